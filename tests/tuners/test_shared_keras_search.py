"""Two processes run one Keras search; every worker's best model loads from the shared folder."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np

from e2etune.engine.trial import TrialStatus

HERE = pathlib.Path(__file__).resolve().parent
WORKER = HERE / "_keras_worker.py"
_spec = importlib.util.spec_from_file_location("_keras_worker", WORKER)
keras_worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(keras_worker)


def test_two_processes_share_a_keras_search_and_its_checkpoints(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]), TF_CPP_MIN_LOG_LEVEL="3")
    workers = [subprocess.Popen([sys.executable, str(WORKER), str(tmp_path)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
    tuner = keras_worker.make_tuner(str(tmp_path))
    trials = tuner.oracle.trials
    assert len(trials) == 6 and all(t.status == TrialStatus.COMPLETED for t in trials.values())
    x, y = keras_worker.data()
    for trial, model in zip(tuner.oracle.get_best_trials(6), tuner.get_best_models(6)):
        loss = model.evaluate(x[48:], y[48:], verbose=0)
        assert np.isclose(loss, trial.score, rtol=1e-4, atol=1e-6), trial.trial_id
    tuner.oracle.close()

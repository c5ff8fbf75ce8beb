"""The application hypermodels in a real (tiny) search, and their lazy import."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np

import e2etune as kt
from e2etune.applications import HyperResNet


class _EagerHyperResNet(HyperResNet):
    """HyperResNet compiled to run eagerly: on a few tiny images that is faster than tracing."""

    def _compile(self, model, hp):
        super()._compile(model, hp)
        model.run_eagerly = True


def test_random_search_over_hyper_resnet_completes_a_trial(tmp_path):
    rng = np.random.RandomState(0)
    x = rng.rand(8, 32, 32, 3).astype("float32")
    y = np.eye(3)[rng.randint(0, 3, size=8)]
    tuner = kt.RandomSearch(_EagerHyperResNet(input_shape=(32, 32, 3), classes=3),
                            objective="val_accuracy", max_trials=1, seed=1,
                            directory=tmp_path, project_name="resnet")
    tuner.search(x[:6], y[:6], validation_data=(x[6:], y[6:]), epochs=1, batch_size=6,
                 verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 1 and trials[0].status == kt.TrialStatus.COMPLETED
    assert math.isfinite(trials[0].score) and 0.0 <= trials[0].score <= 1.0
    best = tuner.get_best_hyperparameters()[0]
    assert best.get("version") in ("v1", "v2", "next")
    assert best.get("learning_rate") in (0.1, 0.01, 0.001)


def test_importing_applications_does_not_load_keras():
    code = ("import sys, e2etune as kt; kt.applications.HyperResNet(input_shape=(8, 8, 3), "
            "classes=2); kt.applications.HyperImageAugment(input_shape=(8, 8, 3)); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

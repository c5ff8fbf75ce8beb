"""Kills a real search process with SIGKILL at random (seeded) moments and resumes it each time.

After every kill the saved state must load, every trial completed so far
must still be there unchanged (its score the objective of its values, its
values those of an uninterrupted run), and the resumed search must end
with exactly `MAX_TRIALS` completed trials, the same as the uninterrupted
run. Kills land anywhere: while Python starts, while the search loads,
inside trials and inside commits. The same holds with the search in
PostgreSQL (chosen through `E2ETUNE_STORAGE`, as a user would).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

from e2etune.storage import SQLiteStorage, from_url
from e2etune.engine.trial import TrialStatus

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HELPER = HERE / "_crash_search.py"
# A trial takes at least 1 ms on average and a kill comes at most 30 ms after the search is
# loaded, so the kills cannot outrun the search: 20 kills stay under 600 < MAX_TRIALS trials.
MAX_TRIALS = 700
KILLS = 20
SEED = 20240611

_spec = importlib.util.spec_from_file_location("_crash_search", HELPER)
crash_search = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_search)


def start(directory: pathlib.Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(HELPER), str(directory), str(MAX_TRIALS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def completed_trials(directory: pathlib.Path) -> dict[str, tuple[dict, float]]:
    """Loads the saved search as a reader and a resuming oracle; returns the completed trials."""
    url = os.environ.get("E2ETUNE_STORAGE")
    storage = from_url(url) if url else SQLiteStorage(directory / crash_search.PROJECT / "search.db")
    saved = storage.read(crash_search.PROJECT)
    storage.close()
    tuner = crash_search.make_tuner(str(directory), MAX_TRIALS)
    oracle = tuner.oracle
    assert [t.trial_id for t in saved.trials] == list(oracle.trials)
    done = {}
    for trial in oracle.trials.values():
        assert trial.status in (TrialStatus.COMPLETED, TrialStatus.IDLE)
        if trial.status == TrialStatus.COMPLETED:
            values = dict(trial.hyperparameters.values)
            assert trial.score == crash_search.objective(values), trial.trial_id
            done[trial.trial_id] = (values, trial.score)
    oracle.close()
    assert saved.state is not None or not saved.trials
    return done


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, monkeypatch) -> str:
    """Runs the test on the project folder's SQLite file, or on PostgreSQL via E2ETUNE_STORAGE."""
    if request.param == "postgres":
        monkeypatch.setenv("E2ETUNE_STORAGE", request.getfixturevalue("postgres").new_database())
    return request.param


def test_a_search_killed_many_times_loses_and_changes_nothing(tmp_path, backend):
    with pytest.MonkeyPatch.context() as local:
        local.delenv("E2ETUNE_STORAGE", raising=False)  # the reference runs apart, on SQLite
        reference_tuner = crash_search.make_tuner(str(tmp_path / "reference"), MAX_TRIALS)
    reference_tuner.search(verbose=0)
    reference = {i: (dict(t.hyperparameters.values), t.score)
                 for i, t in reference_tuner.oracle.trials.items()}
    reference_tuner.oracle.close()
    assert len(reference) == MAX_TRIALS

    rng = random.Random(SEED)
    directory = tmp_path / "killed"
    seen: dict[str, tuple[dict, float]] = {}
    kills = 0
    startup = 0.2  # seconds from launch to "ready", measured below
    while kills < KILLS:
        launched = time.monotonic()
        process = start(directory)
        if kills and rng.random() < 0.2:
            # While Python starts, the store opens or the search loads.
            time.sleep(rng.uniform(0.0, startup))
        else:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
            startup = time.monotonic() - launched
            time.sleep(rng.uniform(0.0, 0.03))
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGKILL)
        process.communicate()
        kills += 1
        done = completed_trials(directory)
        for trial_id, result in seen.items():
            assert done.get(trial_id) == result, f"trial {trial_id} was lost or changed"
        for trial_id, result in done.items():
            assert result == reference[trial_id], f"trial {trial_id} differs from the reference"
        seen = done
    assert 0 < len(seen) < MAX_TRIALS

    process = start(directory)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.split() == ["ready", "done"]
    done = completed_trials(directory)
    assert done == reference
    assert len(done) == MAX_TRIALS

"""Fixtures of the results and CLI tests: a finished search, a running one, headless Chromium.

`tests/results/conftest.py` and `tests/test_cli.py` import them.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

from _search import run_search
from e2etune.results import NoSearchError, read_results

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The trials of the finished search, and of the running one before it ends.
FINISHED_TRIALS, RUNNING_TRIALS = 12, 150
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> pathlib.Path:
    """The folder of a finished search of 12 trials (one FAILED): `<directory>/search`."""
    directory = tmp_path_factory.mktemp("finished")
    run_search(directory, "search", FINISHED_TRIALS)
    return directory / "search"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """The folder of a search running in another process, once 3 of its trials completed.

    Its trials sleep 0.4 s each, so it would run for a minute more; it is
    stopped (SIGTERM) when the tests are done.
    """
    directory = tmp_path_factory.mktemp("running")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_search.py"), str(directory), "search",
         str(RUNNING_TRIALS), "0.4"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    folder = directory / "search"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"The search process ended early: {process.stderr.read()}")
            try:
                if read_results(folder).status_counts().get("COMPLETED", 0) >= 3:
                    break
            except NoSearchError:
                pass  # not created yet
            if time.monotonic() > deadline:
                pytest.fail("The search process did not complete 3 trials in 120 s.")
            time.sleep(0.2)
        yield folder, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser; its absence fails the test under CI (CI set), else skips it."""
    return find_chromium()


def find_chromium() -> str:
    """The path of headless Chromium, else `pytest.fail` (CI set) or `pytest.skip`."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    message = ("headless Chromium is needed to test the dashboard in a browser: "
               "`apt-get install -y chromium`")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}.")
    pytest.skip(message)


def run_chromium(chromium: str, url: str, profile: pathlib.Path, *arguments: str,
                 budget_ms: int = 6000) -> subprocess.CompletedProcess:
    """Runs headless Chromium on `url` with its own profile; the page's script runs `budget_ms`."""
    command = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", *arguments, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)

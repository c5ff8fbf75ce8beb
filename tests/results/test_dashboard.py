"""The dashboard: its JSON and PNG endpoints, and its page in headless Chromium."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.request

import pytest

from _fixtures import find_chromium, run_chromium
from e2etune.results import make_dashboard, read_results


@contextlib.contextmanager
def serving(folder):
    server = make_dashboard(folder, port=0, refresh=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def dom_rows(dom: str) -> list[str]:
    return re.findall(r'<tr data-trial="([^"]*)"', dom)


def test_the_json_endpoint_holds_the_table_and_the_best_trial(finished):
    with serving(finished) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, kind, body = get(server.url + "api/search.json")
    assert status == 200 and kind == "application/json"
    data = json.loads(body)
    results = read_results(finished)
    assert [row[0] for row in data["trials"]] == [t.trial_id for t in results.trials]
    assert data["columns"][:3] == ["trial", "status", "score"]
    assert data["best"]["trial_id"] == results.best_trials(1)[0].trial_id
    assert data["counts"] == {"COMPLETED": 11, "FAILED": 1}
    assert data["objective"] == "val_loss (min)"


def test_the_plots_are_served_as_png_and_nothing_else(finished):
    pytest.importorskip("matplotlib")
    with serving(finished) as server:
        for kind in ("history", "importance", "parallel", "slice"):
            status, content_type, body = get(server.url + f"plot/{kind}.png?revision=1")
            assert status == 200 and content_type == "image/png"
            assert body.startswith(b"\x89PNG")
        assert get(server.url + "plot/other.png")[0] == 404
        assert get(server.url + "elsewhere")[0] == 404
        request = urllib.request.Request(server.url + "api/search.json", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == 405


def test_the_page_in_a_browser_shows_every_trial(finished, chromium, tmp_path):
    with serving(finished) as server:
        dom = run_chromium(chromium, server.url, tmp_path / "profile", "--dump-dom")
        shot = tmp_path / "dashboard.png"
        screenshot = run_chromium(chromium, server.url, tmp_path / "profile2",
                                  f"--screenshot={shot}", "--window-size=1280,1600")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom_rows(dom.stdout) == [t.trial_id for t in read_results(finished).trials]
    assert "COMPLETED 11, FAILED 1" in dom.stdout
    assert '"trial_id": "' in dom.stdout  # the best trial is shown
    assert screenshot.returncode == 0 and shot.exists(), screenshot.stderr[-2000:]
    matplotlib_image = pytest.importorskip("matplotlib.image")
    image = matplotlib_image.imread(shot)
    assert image.shape[:2] == (1600, 1280)
    pixels = image[..., :3].reshape(-1, 3)
    assert pixels.std(axis=0).max() > 0.05, "the screenshot is blank"
    assert (pixels.sum(axis=1) < 1.5).mean() > 0.002, "no text or plots on the screenshot"


def test_the_page_follows_a_running_search(running, chromium, tmp_path):
    folder, process = running
    with serving(folder) as server:
        before = len(read_results(folder).trials)
        first = dom_rows(run_chromium(chromium, server.url, tmp_path / "p1", "--dump-dom").stdout)
        assert process.poll() is None, "the search ended before the page was read"
        deadline = time.monotonic() + 10
        while True:  # between two trials, none runs for a moment
            status, _, body = get(server.url + "api/search.json")
            assert status == 200
            if json.loads(body)["counts"].get("RUNNING", 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert json.loads(body)["counts"].get("RUNNING", 0) >= 1
        while len(read_results(folder).trials) <= len(first):
            assert process.poll() is None
            time.sleep(0.2)
        second = dom_rows(run_chromium(chromium, server.url, tmp_path / "p2", "--dump-dom").stdout)
    assert before <= len(first) < len(second)
    assert second[:len(first)] == first
    assert len(second) <= len(read_results(folder).trials)


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        find_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        find_chromium()

"""The `e2etune` command on a finished search and on one running in another process."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import pathlib
import subprocess
import sys
import time
import types
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "results"))

from _fixtures import finished, running  # noqa: E402,F401
from e2etune.cli import main  # noqa: E402
from e2etune.results import read_results  # noqa: E402


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_png(path: pathlib.Path) -> None:
    image = pytest.importorskip("matplotlib.image").imread(path)
    assert image.shape[0] >= 300 and image.shape[1] >= 500
    pixels = image[..., :3].reshape(-1, 3)
    assert pixels.std(axis=0).max() > 0.05, f"{path.name} is blank"


def parsed(text: str):
    return None if text == "" else text


# A finished search.

def test_summary_counts_the_trials_and_shows_the_best(finished, capsys):
    code, out, err = run(capsys, "summary", finished)
    assert code == 0 and err == ""
    assert "Objective:  val_loss (min)" in out
    assert "Trials:     12: 11 COMPLETED, 1 FAILED" in out
    assert "RandomSearchOracle" in out
    best = read_results(finished).best_trials(5)
    table = out.split("Best 5 trials:\n")[1].splitlines()
    assert [line.split()[1] for line in table[2:]] == [t.trial_id for t in best]
    assert run(capsys, "summary", finished, "-n", "2")[1].count("COMPLETED  ") == 2


def test_trials_as_csv_and_json_parse_back_to_the_trials(finished, capsys):
    trials = read_results(finished).trials
    code, out, _ = run(capsys, "trials", finished, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(trials) == 12
    for row, trial in zip(rows, trials):
        assert row["trial_id"] == trial.trial_id and row["status"] == trial.status
        assert (float(row["score"]) if row["score"] else None) == trial.score
        assert float(row["hp/lr"]) == trial.values["lr"]
        assert int(row["hp/units"]) == trial.values["units"]
        assert row["hp/optimizer"] == trial.values["optimizer"]
        assert row["hp/batchnorm"] == str(trial.values["batchnorm"])
        assert parsed(row["hp/momentum"]) == (
            repr(trial.values["momentum"]) if "momentum" in trial.values else None)
        for name, value in trial.metrics.items():
            assert float(row[f"metric/{name}"]) == value
    code, out, _ = run(capsys, "trials", finished, "--format", "json")
    records = json.loads(out)
    assert [r["trial_id"] for r in records] == [t.trial_id for t in trials]
    for record, trial in zip(records, trials):
        assert record["status"] == trial.status and record["score"] == trial.score
        assert record["hyperparameters"] == trial.values
        assert record["metrics"] == trial.metrics


def test_trials_as_a_table_has_a_line_per_trial(finished, capsys):
    code, out, _ = run(capsys, "trials", finished)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["trial", "status", "score"]
    assert [line.split()[0] for line in lines[2:]] == [t.trial_id for t in
                                                       read_results(finished).trials]


def test_best_prints_values_ready_for_json_load(finished, capsys):
    best = read_results(finished).best_trials(3)
    code, out, _ = run(capsys, "best", finished)
    assert code == 0 and json.loads(out) == best[0].values
    code, out, _ = run(capsys, "best", finished, "-n", "3")
    assert json.loads(out) == [t.values for t in best]


@pytest.mark.parametrize("kind", ["history", "importance", "parallel", "slice"])
def test_plot_writes_a_drawn_png(finished, capsys, tmp_path, kind):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{kind}.png"
    options = [] if kind == "history" else ["--param", "lr", "--param", "units"]
    code, stdout, err = run(capsys, "plot", finished, "--kind", kind, "--out", out, *options)
    assert code == 0, err
    assert f"to {out}" in stdout
    assert_png(out)


def test_plot_of_a_metric(finished, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "accuracy.png"
    assert run(capsys, "plot", finished, "--kind", "slice", "--metric", "val_accuracy",
               "--out", out)[0] == 0
    assert_png(out)


def test_dashboard_serves_the_search_until_stopped(finished):
    process = subprocess.Popen(
        [sys.executable, "-m", "e2etune", "dashboard", str(finished), "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "Dashboard of" in line, process.stderr.read()
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/search.json", timeout=60) as response:
            data = json.load(response)
        assert len(data["trials"]) == 12
        with urllib.request.urlopen(url, timeout=60) as response:
            assert "<table id=\"trials\">" in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=30)


# A search running in another process.

def until(condition, seconds: float = 10.0):
    """Polls `condition()` until it returns something true (a running search moves on)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_every_command_reads_a_running_search(running, capsys, tmp_path):
    folder, process = running

    def summary():
        code, out, err = run(capsys, "summary", folder)
        assert code == 0, err
        return out if "RUNNING" in out else None

    out = until(summary)  # between two trials, none runs for a moment
    assert out and "COMPLETED" in out

    def trials():
        code, out, _ = run(capsys, "trials", folder, "--format", "json")
        records = json.loads(out)
        return records if any(r["status"] == "RUNNING" for r in records) else None

    records = until(trials)
    assert records and len(records) >= 4
    code, out, _ = run(capsys, "trials", folder, "--format", "csv")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) >= len(records)
    code, out, _ = run(capsys, "best", folder)
    assert code == 0 and set(json.loads(out)) >= {"lr", "units", "optimizer", "batchnorm"}
    if importlib.util.find_spec("matplotlib"):
        for kind in ("history", "importance"):
            out_file = tmp_path / f"{kind}.png"
            assert run(capsys, "plot", folder, "--kind", kind, "--out", out_file)[0] == 0
            assert_png(out_file)
    assert process.poll() is None, "the search ended before the commands read it"
    later = json.loads(run(capsys, "trials", folder, "--format", "json")[1])
    assert len(later) >= len(records)


# Errors.

@pytest.mark.parametrize("command", ["summary", "trials", "best", "plot", "dashboard"])
def test_a_folder_without_a_search_is_an_error_naming_what_was_expected(tmp_path, capsys,
                                                                       command):
    extra = ["--kind", "history", "--out", str(tmp_path / "x.png")] if command == "plot" else []
    code, out, err = run(capsys, command, tmp_path, *extra)
    assert code == 1 and out == ""
    assert f"e2etune {command}: error: No search in {tmp_path}" in err
    assert "<project>/search.db" in err and "Traceback" not in err


def test_unknown_names_in_plot_options_list_the_known_ones(finished, capsys, tmp_path):
    out = str(tmp_path / "x.png")
    code, _, err = run(capsys, "plot", finished, "--kind", "slice", "--param", "lrate",
                       "--out", out)
    assert code == 1 and "Unknown hyperparameter 'lrate'" in err
    assert "'lr', 'units', 'optimizer', 'batchnorm', 'momentum'" in err
    code, _, err = run(capsys, "plot", finished, "--kind", "history", "--metric", "acc",
                       "--out", out)
    assert code == 1 and "Unknown metric 'acc'" in err and "'val_loss', 'val_accuracy'" in err
    code, _, err = run(capsys, "plot", finished, "--kind", "history", "--param", "lr",
                       "--out", out)
    assert code == 1 and "--param does not apply" in err
    code, _, err = run(capsys, "plot", finished, "--kind", "history", "--out",
                       str(tmp_path / "missing" / "x.png"))
    assert code == 1 and "does not exist" in err
    assert not (tmp_path / "x.png").exists()


def test_an_unknown_project_in_a_storage_lists_the_searches(finished, capsys):
    code, _, err = run(capsys, "summary", "--storage", f"sqlite:///{finished / 'search.db'}",
                       "--project", "nope")
    assert code == 1 and "no search 'nope'" in err and "'search'" in err
    code, out, _ = run(capsys, "summary", "--storage", f"sqlite:///{finished / 'search.db'}",
                       "--project", "search")
    assert code == 0 and "Trials:     12" in out


def test_best_of_a_search_without_a_completed_trial_is_an_error(tmp_path, capsys):
    from _search import make_tuner

    make_tuner(tmp_path, max_trials=3).oracle.close()
    code, _, err = run(capsys, "best", tmp_path / "search")
    assert code == 1 and "no completed trial" in err
    code, out, _ = run(capsys, "summary", tmp_path / "search")
    assert code == 0 and "No completed trial yet." in out


def test_bad_arguments_exit_with_the_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["trials", "--format", "xml"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


# Launch, imports, installation.

def test_launch_hands_every_argument_to_the_launcher(monkeypatch):
    received = []
    launcher = types.ModuleType("e2etune.distributed.launch")
    launcher.main = lambda argv: received.append(argv) or 7
    monkeypatch.setitem(sys.modules, "e2etune.distributed.launch", launcher)
    argv = ["--workers", "2", "--", "python", "train.py", "--epochs", "3"]
    assert main(["launch", *argv]) == 7
    assert received == [argv]


def test_launch_without_the_launcher_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "e2etune.distributed.launch", None)
    assert main(["launch", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "e2etune launch: error:" in err and "e2etune.distributed.launch is missing" in err


def test_the_commands_import_neither_tensorflow_nor_plotting_nor_pandas(finished):
    code = (
        "import sys\nfrom e2etune.cli import main\n"
        f"for command in (['summary'], ['trials', '--format', 'csv'], ['best']):\n"
        f"    assert main(command + [{str(finished)!r}]) == 0\n"
        "loaded = sorted(m for m in sys.modules\n"
        "                if m.split('.')[0] in ('tensorflow', 'keras', 'matplotlib', 'pandas'))\n"
        "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    timed = subprocess.run([sys.executable, "-X", "importtime", "-m", "e2etune", "summary",
                            str(finished)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert timed.returncode == 0 and "Trials:     12" in timed.stdout
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in timed.stderr.splitlines() if line.startswith("import time:")}
    assert "e2etune" in imported and not imported & {"tensorflow", "keras"}


def test_the_console_script_is_the_cli():
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["e2etune"] == "e2etune.cli:main"
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "e2etune", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for command in ("summary", "trials", "best", "plot", "dashboard", "launch"):
        assert command in result.stdout
    assert time.monotonic() - start < 60


def test_a_port_in_use_is_a_clear_error(finished, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "dashboard", finished, "--port", port)
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err

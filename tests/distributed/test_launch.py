"""`e2etune launch`: environments, GPUs, prefixed output, exit codes, stopping, ports.

The launched command is a tiny Python script (no TensorFlow) that writes its
environment to `<out>/<id>.json` and then behaves as the test asks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from e2etune.distributed import launch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent("""
    import json, os, signal, subprocess, sys, time
    out, expected, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    name = os.environ["KERASTUNER_TUNER_ID"]
    record = {key: os.environ.get(key) for key in (
        "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT",
        "E2ETUNE_TUNER_ID", "E2ETUNE_ORACLE_IP", "E2ETUNE_ORACLE_PORT",
        "CUDA_VISIBLE_DEVICES", "E2ETUNE_AUTH_TOKEN")}
    record["pid"] = os.getpid()
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode in ("sleep", "ignore-term"):
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        record["grandchild"] = grandchild.pid
    with open(os.path.join(out, name + ".tmp"), "w") as f:
        json.dump(record, f)
    os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name + ".json"))
    print(f"hello from {name}")
    print("second line")
    print("a line on stderr", file=sys.stderr)
    sys.stdout.write("no newline at the end")
    sys.stdout.flush()
    if mode in ("sleep", "ignore-term"):
        time.sleep(60)
    elif mode == "chief-fails":
        if name == "chief":
            while len([f for f in os.listdir(out) if f.endswith(".json")]) < expected:
                time.sleep(0.02)
            sys.exit(3)
        time.sleep(60)
    elif mode == "worker-fails":
        sys.exit(5 if name == "tuner1" else 0)
    elif mode == "workers-fail":
        time.sleep(60) if name == "chief" else sys.exit(2)
    elif mode == "workers-hang":
        time.sleep(0 if name == "chief" else 60)
""")


@pytest.fixture
def child(tmp_path):
    """The command to launch: `child(mode, processes)` -> argv after `--`."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "out"
    out.mkdir()

    def command(mode: str, processes: int) -> list[str]:
        return [sys.executable, str(script), str(out), str(processes), mode]

    command.out = out
    return command


def _launch(options: list[str], command: list[str], env: dict | None = None,
            **kwargs) -> subprocess.Popen:
    env = dict(os.environ if env is None else env, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "e2etune.distributed.launch", *options,
                             "--", *command], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _run(options, command, env=None) -> tuple[int, str, str]:
    process = _launch(options, command, env)
    stdout, stderr = process.communicate(timeout=30)
    return process.returncode, stdout, stderr


def _records(out, count: int, timeout: float = 20.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("*.json"))) < count:
        assert time.monotonic() < deadline, f"only {sorted(out.iterdir())} appeared"
        time.sleep(0.02)
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _assert_all_gone(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if _alive(pid)], "processes left behind"


def _pids(records: dict[str, dict]) -> list[int]:
    return [pid for r in records.values() for pid in (r["pid"], r.get("grandchild")) if pid]


def test_environment_gpus_and_prefixes(child):
    code, stdout, stderr = _run(["--workers", "3", "--gpus", "0,1"], child("done", 4))
    assert code == 0, stderr
    records = _records(child.out, 4)
    assert sorted(records) == ["chief", "tuner0", "tuner1", "tuner2"]
    ports = {r["KERASTUNER_ORACLE_PORT"] for r in records.values()}
    assert len(ports) == 1 and 0 < int(ports.pop()) < 65536
    for name, r in records.items():
        assert r["KERASTUNER_TUNER_ID"] == r["E2ETUNE_TUNER_ID"] == name
        assert r["KERASTUNER_ORACLE_IP"] == r["E2ETUNE_ORACLE_IP"] == "127.0.0.1"
        assert r["E2ETUNE_ORACLE_PORT"] == r["KERASTUNER_ORACLE_PORT"]
    assert {n: r["CUDA_VISIBLE_DEVICES"] for n, r in records.items()} == {
        "chief": "", "tuner0": "0", "tuner1": "1", "tuner2": "0"}
    for name in records:
        for line in ("hello from " + name, "second line", "no newline at the end"):
            assert f"[{name}] {line}" in stdout.splitlines()
        assert f"[{name}] a line on stderr" in stderr.splitlines()
    assert all(line.startswith(("[chief] ", "[tuner")) for line in stdout.splitlines())
    assert all(line.startswith(("[chief] ", "[tuner", "[launch] "))
               for line in stderr.splitlines())


def test_host_and_port_given_and_gpus_left_alone(child):
    port = launch.choose_port("127.0.0.1", None)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="7")
    code, _, stderr = _run(["--workers", "1", "--port", str(port), "--host", "127.0.0.1"],
                           child("done", 2), env)
    assert code == 0, stderr
    records = _records(child.out, 2)
    assert {r["KERASTUNER_ORACLE_PORT"] for r in records.values()} == {str(port)}
    assert records["tuner0"]["CUDA_VISIBLE_DEVICES"] == "7"
    assert records["chief"]["CUDA_VISIBLE_DEVICES"] == ""


def test_auth_token_forwarded_or_generated_never_printed(child, tmp_path):
    env = dict(os.environ, E2ETUNE_AUTH_TOKEN="forwarded-secret")
    assert _run(["--workers", "1"], child("done", 2), env)[0] == 0
    assert {r["E2ETUNE_AUTH_TOKEN"] for r in _records(child.out, 2).values()} == {
        "forwarded-secret"}
    for path in child.out.glob("*.json"):
        path.unlink()
    code, stdout, stderr = _run(["--workers", "2", "--auth-token", "auto"], child("done", 3))
    assert code == 0, stderr
    tokens = {r["E2ETUNE_AUTH_TOKEN"] for r in _records(child.out, 3).values()}
    assert len(tokens) == 1
    token = tokens.pop()
    assert len(token) >= 32 and token != "forwarded-secret"
    assert token not in stdout + stderr


def test_chief_failure_stops_workers_and_returns_its_code(child):
    process = _launch(["--workers", "2", "--grace", "2"], child("chief-fails", 3))
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 3, stderr
    assert "the chief failed with exit code 3" in stderr
    assert "worker tuner0 failed" not in stderr  # stopped by the launcher, not failed
    _assert_all_gone(_pids(_records(child.out, 3)))


def test_worker_failure_is_reported(child):
    code, _, stderr = _run(["--workers", "2"], child("worker-fails", 3))
    assert code == 1
    assert "[launch] worker tuner1 failed with exit code 5" in stderr.splitlines()
    assert "tuner0 failed" not in stderr


def test_chief_is_stopped_when_every_worker_failed(child):
    code, _, stderr = _run(["--workers", "2"], child("workers-fail", 3))
    assert code == 1
    assert "[launch] every worker failed: stopping the chief" in stderr.splitlines()
    assert "worker tuner0 failed with exit code 2" in stderr
    _assert_all_gone(_pids(_records(child.out, 3)))


def test_workers_get_a_bounded_time_after_the_chief(child):
    code, _, stderr = _run(["--workers", "2", "--worker-timeout", "0.5"], child("workers-hang", 3))
    assert code == 1
    assert "did not within 0.5 s (--worker-timeout): stopping them" in stderr
    assert "tuner0, tuner1" in stderr
    _assert_all_gone(_pids(_records(child.out, 3)))


@pytest.mark.parametrize("sig, expected", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                          (signal.SIGHUP, 129)])
def test_signal_stops_everything(child, sig, expected):
    process = _launch(["--workers", "2"], child("sleep", 3))
    records = _records(child.out, 3)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == expected, stderr
    assert f"{signal.Signals(sig).name} received: stopping all processes" in stderr
    _assert_all_gone(_pids(records))


def test_processes_ignoring_sigterm_are_killed_after_grace(child):
    process = _launch(["--workers", "1", "--grace", "0.5"], child("ignore-term", 2))
    records = _records(child.out, 2)
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)
    assert process.returncode == 143
    assert time.monotonic() - start < 10
    _assert_all_gone(_pids(records))


def test_port_in_use_is_refused(child):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, stderr = _run(["--workers", "1", "--port", str(port)], child("done", 2))
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in stderr
    assert "leave --port out" in stderr
    assert not list(child.out.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2"], "no command to run: put it after '--'"),
    (["--workers", "2", "--"], "no command to run"),
    (["--workers", "2", "python", "train.py"],
     "put '--' before it: e2etune launch --workers 2 -- python train.py"),
    (["--workers", "2", "--bogus", "--", "python"], "unrecognized arguments: --bogus"),
    (["--workers", "0", "--", "python"], "give at least one worker"),
    (["--workers", "2", "--gpus", "0,,1", "--", "python"], "give comma-separated GPU"),
    (["--workers", "2", "--gpus", "zero", "--", "python"], "'zero' is not a GPU id"),
    (["--workers", "2", "--auth-token", "hunter2", "--", "python"], "set E2ETUNE_AUTH_TOKEN"),
    (["--workers", "2", "--port", "70000", "--", "python"], "leave --port out"),
    (["--workers", "2", "--host", "no such host!", "--", "python"], "not a valid address"),
    (["--", "python"], "--workers"),
])
def test_bad_input(argv, message, capsys):
    assert launch.main(argv) == 2
    stderr = capsys.readouterr().err
    assert message in stderr
    assert "hunter2" not in stderr


def test_missing_program_is_an_error(capsys):
    assert launch.main(["--workers", "1", "--", "/no/such/program"]) == 2
    assert "check the command after '--'" in capsys.readouterr().err


def test_gpu_round_robin():
    envs = launch.process_environments(5, "10.0.0.1", 1234, ["GPU-ab12", "3"], None, {})
    assert [env["CUDA_VISIBLE_DEVICES"] for env in envs.values()] == [
        "", "GPU-ab12", "3", "GPU-ab12", "3", "GPU-ab12"]
    assert envs["tuner4"]["KERASTUNER_ORACLE_IP"] == "10.0.0.1"
    assert "E2ETUNE_AUTH_TOKEN" not in envs["chief"]

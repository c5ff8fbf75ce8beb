"""Start the chief and the workers of one distributed search on this machine.

    e2etune launch --workers 4 --gpus 0,1 -- python train.py --epochs 10

runs the command five times: once as the chief (`KERASTUNER_TUNER_ID=chief`),
which serves the search and trains nothing, and once per worker (`tuner0` ..
`tuner3`), which trains the trials the chief hands out. Every process gets
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` (and the same values as
`E2ETUNE_TUNER_ID`, `E2ETUNE_ORACLE_IP`, `E2ETUNE_ORACLE_PORT`), so the same
launcher also starts KerasTuner scripts. With `--gpus`, each worker sees one
GPU through `CUDA_VISIBLE_DEVICES`, round-robin; the chief always sees none.

Every line a process writes is shown with its id in front (`[chief] `,
`[tuner0] `); the launcher's own lines start with `[launch] ` and go to
stderr. Ctrl-C, SIGTERM or SIGHUP (the terminal closed) stops every process
(SIGTERM, then SIGKILL after `--grace` seconds) and exits 130, 143 or 129.
When the chief fails the others are stopped and its exit code is returned;
when it succeeds the workers get `--worker-timeout` seconds to finish, and the
exit code is 0 only if all did. A worker that fails is named as it happens;
when every worker has failed the chief is stopped too.

`E2ETUNE_AUTH_TOKEN` reaches every process when set; `--auth-token auto`
puts a fresh random token there instead (it is never printed).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

CHIEF = "chief"
_GPU_ID = re.compile(r"^(\d+|(GPU|MIG)-[\w/-]+)$")
_POLL_SECONDS = 0.05


class LaunchError(Exception):
    """A launch that cannot start; the message says what to change."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of `e2etune launch`'s options (the command comes after `--`)."""
    parser = argparse.ArgumentParser(
        prog="e2etune launch",
        usage="e2etune launch --workers N [--gpus 0,1,...] [--port P] [--host H] "
              "[--auth-token auto] -- COMMAND [ARGS ...]",
        description="Run COMMAND as the chief and N workers of one distributed search.")
    parser.add_argument("--workers", type=int, required=True, metavar="N",
                        help="number of worker processes (at least 1)")
    parser.add_argument("--gpus", metavar="IDS",
                        help="comma-separated GPU ids handed to the workers round-robin, "
                             "e.g. 0,1,2,3 (default: the workers see what this shell sees)")
    parser.add_argument("--port", type=int, metavar="P",
                        help="port the chief serves on (default: a free port)")
    parser.add_argument("--host", default="127.0.0.1", metavar="H",
                        help="address the chief serves on and the workers connect to "
                             "(default: 127.0.0.1)")
    parser.add_argument("--auth-token", metavar="auto",
                        help="'auto': put a fresh random E2ETUNE_AUTH_TOKEN in every process")
    parser.add_argument("--grace", type=float, default=10.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL when stopping (default: 10)")
    parser.add_argument("--worker-timeout", type=float, default=60.0, metavar="S",
                        help="seconds the workers get to finish once the chief has "
                             "succeeded (default: 60)")
    return parser


def parse_gpus(text: str) -> list[str]:
    """`"0,1"` -> `["0", "1"]`; raises `LaunchError` on anything but GPU ids."""
    ids = [item.strip() for item in text.split(",")]
    bad = [item for item in ids if not _GPU_ID.match(item)]
    if bad:
        raise LaunchError(
            f"--gpus {text!r} is malformed ({', '.join(repr(b) for b in bad)} is not a GPU id): "
            "give comma-separated GPU indices such as --gpus 0,1,2,3")
    return ids


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Options and command of `argv`; exits like argparse (code 2) on bad input."""
    parser = build_parser()
    if "--" in argv:
        cut = argv.index("--")
        options, command = argv[:cut], argv[cut + 1:]
    else:
        options, command = argv, []
    args, unknown = parser.parse_known_args(options)
    try:
        if unknown and not command:
            raise LaunchError(f"unrecognized arguments: {' '.join(unknown)}; if they are the "
                              f"command, put '--' before it: e2etune launch --workers "
                              f"{args.workers} -- {' '.join(unknown)}")
        if unknown:
            raise LaunchError(f"unrecognized arguments: {' '.join(unknown)} (the options "
                              "before '--' are the launcher's; see e2etune launch --help)")
        if not command:
            raise LaunchError("no command to run: put it after '--', e.g. "
                              "e2etune launch --workers 2 -- python train.py")
        if args.workers < 1:
            raise LaunchError(f"--workers {args.workers}: give at least one worker, "
                              "e.g. --workers 2")
        if args.gpus is not None:
            args.gpus = parse_gpus(args.gpus)
        if args.port is not None and not 0 < args.port < 65536:
            raise LaunchError(f"--port {args.port} is not a port: give 1-65535, "
                              "or leave --port out to use a free one")
        if args.auth_token not in (None, "auto"):
            raise LaunchError("--auth-token takes only 'auto'; to use your own token, set "
                              "E2ETUNE_AUTH_TOKEN (a token on the command line is visible "
                              "to every user of this machine)")
        if args.grace < 0 or args.worker_timeout < 0:
            raise LaunchError("--grace and --worker-timeout are seconds: give 0 or more")
    except LaunchError as error:
        parser.error(str(error))
    return args, command


def _bind(host: str, port: int) -> int:
    """Bind a throwaway socket to `host:port` and return the port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return sock.getsockname()[1]


def choose_port(host: str, port: int | None) -> int:
    """`port` if it is free on `host`, or a free port when `port` is None.

    Raises:
        LaunchError: the port is in use, or `host` is not an address of this machine.
    """
    try:
        return _bind(host, port or 0)
    except socket.gaierror as error:
        raise LaunchError(f"--host {host!r} is not a valid address ({error.strerror}): "
                          "give an IP address of this machine, e.g. 127.0.0.1") from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise LaunchError(f"port {port} on {host} is already in use (another search's "
                              "chief?): stop that process, pick another --port, or leave "
                              "--port out to use a free one") from None
        raise LaunchError(f"cannot serve on {host}:{port or 0} ({error.strerror}): give "
                          "--host an address of this machine, e.g. 127.0.0.1") from None


def process_environments(workers: int, host: str, port: int, gpus: list[str] | None,
                         auth_token: str | None, base: dict[str, str]) -> dict[str, dict[str, str]]:
    """The environment of each process, by id: the chief first, then `tuner0`..."""
    environments = {}
    for index, name in enumerate([CHIEF] + [f"tuner{i}" for i in range(workers)]):
        env = dict(base, PYTHONUNBUFFERED="1")
        for prefix in ("KERASTUNER", "E2ETUNE"):
            env.update({f"{prefix}_TUNER_ID": name, f"{prefix}_ORACLE_IP": host,
                        f"{prefix}_ORACLE_PORT": str(port)})
        if name == CHIEF:
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[(index - 1) % len(gpus)]
        if auth_token is not None:
            env["E2ETUNE_AUTH_TOKEN"] = auth_token
        environments[name] = env
    return environments


class _Output:
    """Copies the lines of child pipes to this process's streams, each with a prefix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def follow(self, pipe: IO[bytes], prefix: str, stream_name: str) -> None:
        thread = threading.Thread(target=self._copy, args=(pipe, prefix, stream_name),
                                  daemon=True)
        thread.start()
        self.threads.append(thread)

    def _copy(self, pipe: IO[bytes], prefix: str, stream_name: str) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode(errors="replace").rstrip("\r\n")
                self.write(stream_name, f"{prefix}{line}")

    def write(self, stream_name: str, line: str) -> None:
        stream = getattr(sys, stream_name)
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # our own stream is gone (a closed pipe); keep draining the child

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0))


@dataclass
class Launcher:
    """The chief and workers of one search: start them, watch them, stop them.

    Args:
        command: what every process runs, e.g. `["python", "train.py"]`.
        environments: each process's environment by id (`process_environments`).
        grace: seconds between SIGTERM and SIGKILL when stopping.
        worker_timeout: seconds the workers get to finish after the chief succeeded.
    """

    command: list[str]
    environments: dict[str, dict[str, str]]
    grace: float = 10.0
    worker_timeout: float = 60.0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    signal_number: int | None = None
    _force: bool = False
    _reported: set[str] = field(default_factory=set)
    _stopped: set[str] = field(default_factory=set)
    _output: _Output = field(default_factory=_Output)

    def say(self, message: str) -> None:
        """Write one of the launcher's own lines to stderr."""
        self._output.write("stderr", f"[launch] {message}")

    def start(self) -> None:
        """Start every process (each in a session of its own, so that its children stop too)."""
        for name, env in self.environments.items():
            try:
                process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           start_new_session=True)
            except OSError as error:
                self.stop()
                raise LaunchError(f"cannot run {self.command[0]!r} ({error.strerror}): check "
                                  "the command after '--' (is it installed and on PATH?)") from None
            self.processes[name] = process
            self._output.follow(process.stdout, f"[{name}] ", "stdout")
            self._output.follow(process.stderr, f"[{name}] ", "stderr")

    def on_signal(self, signal_number: int, frame: object = None) -> None:
        """Signal handler: the first signal stops everything, a second one kills at once."""
        if self.signal_number is not None:
            self._force = True
        self.signal_number = signal_number

    def _signal_groups(self, processes: list[subprocess.Popen], sig: int) -> None:
        # Only groups whose leader was running when stopping began: a group that emptied
        # long ago may have handed its id to an unrelated process since.
        for process in processes:
            try:
                os.killpg(process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self) -> None:
        """SIGTERM the running processes' groups, then SIGKILL them after the grace period."""
        running = [p for p in self.processes.values() if p.poll() is None]
        self._stopped.update(n for n, p in self.processes.items() if p in running)
        if running:
            self._signal_groups(running, signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            while any(p.poll() is None for p in running) and time.monotonic() < deadline:
                if self._force:
                    break
                time.sleep(_POLL_SECONDS)
            self._signal_groups(running, signal.SIGKILL)
        for process in self.processes.values():
            process.wait()
        self._output.join(timeout=2.0)

    def _report_failures(self) -> list[str]:
        """Name each worker that failed (not stopped by us), once; returns their ids."""
        failed = []
        for name, process in self.processes.items():
            code = process.poll()
            if name == CHIEF or name in self._stopped or code in (None, 0):
                continue
            failed.append(name)
            if name not in self._reported:
                self._reported.add(name)
                self.say(f"worker {name} failed with exit code {_exit_status(code)}")
        return failed

    def _interrupted(self) -> int:
        self.say(f"{signal.Signals(self.signal_number).name} received: stopping all processes")
        self.stop()
        return 128 + self.signal_number

    def wait(self) -> int:
        """Watch the processes until the search is over; returns the launcher's exit code."""
        chief = self.processes[CHIEF]
        workers = {n: p for n, p in self.processes.items() if n != CHIEF}
        while chief.poll() is None:
            if self.signal_number is not None:
                return self._interrupted()
            failed = self._report_failures()
            if failed and len(failed) == len(workers):
                self.say("every worker failed: stopping the chief")
                self.stop()
                return 1
            time.sleep(_POLL_SECONDS)
        if chief.returncode != 0:
            code = _exit_status(chief.returncode)
            self.say(f"the chief failed with exit code {code}: stopping the workers")
            self.stop()
            self._report_failures()
            return code
        deadline = time.monotonic() + self.worker_timeout
        while any(p.poll() is None for p in workers.values()):
            if self.signal_number is not None:
                return self._interrupted()
            if time.monotonic() > deadline:
                late = [n for n, p in workers.items() if p.poll() is None]
                self.say(f"the chief finished but {', '.join(late)} did not within "
                         f"{self.worker_timeout:g} s (--worker-timeout): stopping them")
                self.stop()
                self._report_failures()
                return 1
            self._report_failures()
            time.sleep(_POLL_SECONDS)
        self._output.join(timeout=2.0)
        return 1 if self._report_failures() else 0


def _exit_status(returncode: int) -> int:
    """A child's return code as a shell reports it (killed by signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str] | None = None) -> int:
    """Run `e2etune launch` with `argv` (the arguments after `launch`); returns the exit code."""
    try:
        args, command = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        port = choose_port(args.host, args.port)
    except LaunchError as error:
        print(f"e2etune launch: error: {error}", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(32) if args.auth_token == "auto" else None
    launcher = Launcher(command, process_environments(args.workers, args.host, port, args.gpus,
                                                      token, dict(os.environ)),
                        grace=args.grace, worker_timeout=args.worker_timeout)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, launcher.on_signal) for sig in handled}
    try:
        launcher.say(f"chief and {args.workers} worker(s), chief at {args.host}:{port}")
        launcher.start()
        return launcher.wait()
    except LaunchError as error:
        print(f"e2etune launch: error: {error}", file=sys.stderr)
        return 2
    finally:
        if any(p.poll() is None for p in launcher.processes.values()):
            launcher.stop()  # an exception of our own: leave no process behind
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())

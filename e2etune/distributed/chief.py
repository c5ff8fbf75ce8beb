"""The chief: serves its tuner's oracle to the workers until the search is over."""

from __future__ import annotations

import ipaddress
import logging
import sys
import time
import uuid
from concurrent import futures
from typing import Any

import grpc

from e2etune.distributed import security
from e2etune.distributed.environment import Distribution
from e2etune.distributed.service import OracleServicer
from e2etune.engine.trial import TrialStatus
from e2etune.protos import service_pb2_grpc

_LOG = logging.getLogger("e2etune")

#: Threads answering calls; the oracle's lock serializes its decisions.
THREADS = 32
#: How long the chief still answers once the search is over and no call came, in seconds:
#: workers that were waiting for it (or start late) are told too. Longer than two
#: pauses of a worker waiting for the chief (`connection.MAX_BACKOFF`).
QUIET_PERIOD = 2.5
#: How often the chief checks whether the search is over, in seconds.
_POLL = 0.05


class ChiefStartError(RuntimeError):
    """The chief cannot serve on the address it was given."""


def start_server(oracle: Any, distribution: Distribution) -> tuple[grpc.Server, OracleServicer]:
    """Starts serving `oracle` on `distribution.address`.

    Raises:
        ChiefStartError: when the address cannot be bound (a port in use, say).
    """
    servicer = OracleServicer(oracle, uuid.uuid4().hex)
    interceptors = ([security.TokenInterceptor(distribution.auth_token)]
                    if distribution.auth_token else [])
    server = grpc.server(futures.ThreadPoolExecutor(THREADS, thread_name_prefix="e2etune-chief"),
                         interceptors=interceptors,
                         options=security.MESSAGE_OPTIONS + [("grpc.so_reuseport", 0)])
    service_pb2_grpc.add_OracleServiceServicer_to_server(servicer, server)
    credentials = security.server_credentials(distribution)
    address = distribution.address
    try:
        if credentials is not None:
            bound = server.add_secure_port(address, credentials)
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ChiefStartError(
            f"The chief cannot listen on {address}: the port is in use (another chief, or "
            "another program) or the address is not one of this host's. Choose a free port "
            "(KERASTUNER_ORACLE_PORT) or this host's address (KERASTUNER_ORACLE_IP), or stop "
            "what holds the port.")
    warn_if_open(distribution)
    server.start()
    return server, servicer


def is_loopback(host: str) -> bool:
    """Whether `host` (an IP address or a name) is this host's loopback only.

    A name other than `localhost` counts as reachable from other hosts: it
    is not resolved (that could wait on DNS).
    """
    host = host.strip().strip("[]")
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
            ".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_warning(distribution: Distribution) -> str | None:
    """The warning for a chief that other hosts can reach without an auth token.

    None when it listens on loopback only, or has an auth token. TLS alone
    does not silence it: it encrypts, but lets anyone who reaches the port
    in. The text names the address and how to protect it, never a secret.
    """
    if is_loopback(distribution.host) or distribution.auth_token:
        return None
    tls = " (TLS encrypts the traffic, but lets anyone in)" if distribution.tls_cert else ""
    return (
        f"The chief listens on {distribution.address}, which other hosts may reach, without "
        f"an auth token{tls}: anyone who reaches that port can read the search and "
        "send it trials and results. Set E2ETUNE_AUTH_TOKEN to the same secret on the chief "
        "and every worker (e.g. from `python -c \"import secrets; "
        "print(secrets.token_hex(32))\"`, or `e2etune launch --auth-token auto`), and on a "
        "network you do not trust also E2ETUNE_TLS_CERT and E2ETUNE_TLS_KEY on the chief "
        "(E2ETUNE_TLS_CA on the workers); or, for a search on this host only, listen on "
        "127.0.0.1 (KERASTUNER_ORACLE_IP).")


def warn_if_open(distribution: Distribution) -> None:
    """Logs `open_warning(distribution)` when there is one."""
    warning = open_warning(distribution)
    if warning is not None:
        _LOG.warning("%s", warning)


def serve(tuner: Any, distribution: Distribution) -> None:
    """Serves `tuner.oracle` until the search is over and every worker has been told.

    Raises:
        ChiefStartError: when the chief cannot listen on its address.
        FatalError: the error that stopped the search (too many failed trials, say).
    """
    oracle = tuner.oracle
    server, servicer = start_server(oracle, distribution)
    # A search restarted after its end: the workers still waiting are told, then the chief ends.
    servicer.stopped = _over(oracle)
    secure = " over TLS" if distribution.tls_cert else ""
    _say(f"serving the search {tuner.project_name!r} on {distribution.address}{secure} "
         f"(storage: {oracle._where()}).")
    try:
        while not (servicer.finished()
                   and time.monotonic() - servicer.last_call > QUIET_PERIOD):
            time.sleep(_POLL)
    finally:
        server.stop(grace=1.0).wait()
    if servicer.fatal is not None:
        raise servicer.fatal
    done = sum(t.status == TrialStatus.COMPLETED for t in oracle.trials.values())
    _say(f"the search is over ({done} of {len(oracle.trials)} trials completed).")


def _over(oracle: Any) -> bool:
    """Whether the saved search needs no more trials (all made, none running or queued)."""
    with oracle._lock:
        return (oracle.remaining_trials() == 0 and not oracle._running
                and not oracle._retry_queue)


def _say(message: str) -> None:
    print(f"e2etune chief: {message}", file=sys.stderr, flush=True)

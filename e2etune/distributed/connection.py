"""A worker's line to the chief: calls that wait out an absent chief, and its errors.

A call the chief cannot answer (it is down, restarting, or cut off) is sent
again with exponential backoff for up to `E2ETUNE_CHIEF_WAIT` seconds;
every call is safe to send twice (see `service.proto`). An error the chief
answers is raised here as the exception the oracle raised there.
"""

from __future__ import annotations

import builtins
import random
import sys
import time
from typing import Any, Callable

import grpc

from e2etune import errors
from e2etune.distributed import security
from e2etune.distributed.environment import Distribution
from e2etune.distributed.service import ERROR_KEY
from e2etune.engine import _values
from e2etune.protos import service_pb2_grpc

#: The longest a single call may take once the chief answers, in seconds.
CALL_TIMEOUT = 120.0
#: The first and the longest pause between two tries while the chief does not answer.
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 1.0
_UNANSWERED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_BUILTIN_ERRORS = ("ValueError", "TypeError", "KeyError", "RuntimeError")


class ChiefUnreachableError(errors.FatalRuntimeError):
    """The chief did not answer for `E2ETUNE_CHIEF_WAIT` seconds."""


class ChiefRefusedError(errors.FatalRuntimeError):
    """The chief refused this worker (a wrong token, another search, another version)."""


class LeaseLostError(RuntimeError):
    """The chief refused a result: the trial's lease was given to another worker."""


def _say(message: str) -> None:
    print(f"e2etune worker: {message}", file=sys.stderr, flush=True)


class Connection:
    """Calls of one worker to the chief at `distribution.address`.

    Args:
        distribution: The chief's address, token, TLS files and wait.
        rejoin: Called when the chief no longer knows this worker (it
            restarted): it makes the handshake again.
    """

    def __init__(self, distribution: Distribution, rejoin: Callable[[], None]) -> None:
        self.address = distribution.address
        self.wait = distribution.chief_wait
        self._rejoin = rejoin
        self._metadata = security.call_metadata(distribution)
        options = security.MESSAGE_OPTIONS + [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", int(MAX_BACKOFF * 1000)),
        ]
        credentials = security.channel_credentials(distribution)
        if credentials is not None:
            self._channel = grpc.secure_channel(self.address, credentials, options)
        else:
            self._channel = grpc.insecure_channel(self.address, options)
        self._stub = service_pb2_grpc.OracleServiceStub(self._channel)
        #: Set once the chief was given up on: later calls try once, without waiting.
        self.gave_up = False

    def call(self, method: str, request: Any, patient: bool = True,
             timeout: float = CALL_TIMEOUT) -> Any:
        """Sends `request` to `method` until the chief answers; returns its answer.

        Args:
            patient: Whether to wait for an absent chief (else one try, for
                heartbeats and calls that only tidy up).
            timeout: The longest one try may take, in seconds.

        Raises:
            ChiefUnreachableError: after `E2ETUNE_CHIEF_WAIT` seconds without an answer.
            ChiefRefusedError, LeaseLostError, FatalError, ValueError, ...: what the chief answered.
        """
        first_miss, backoff, announced, rejoined = None, FIRST_BACKOFF, False, False
        while True:
            try:
                answer = getattr(self._stub, method)(request, timeout=timeout,
                                                     metadata=self._metadata)
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
                if code not in _UNANSWERED:
                    kind = dict(error.trailing_metadata() or ()).get(ERROR_KEY, "")
                    if kind == "UnknownWorker" and method != "Handshake" and not rejoined:
                        # The chief restarted and forgot this worker: join once more, then retry.
                        self._rejoin()
                        rejoined = True
                        continue
                    raise self._error(code, kind, details) from None
                now = time.monotonic()
                first_miss = first_miss or now
                waited = now - first_miss
                if not patient or self.gave_up or waited >= self.wait:
                    self.gave_up = self.gave_up or patient
                    raise ChiefUnreachableError(
                        f"The chief at {self.address} did not answer for {waited:.0f} s "
                        f"(E2ETUNE_CHIEF_WAIT={self.wait:g}); last error: {details}. Check that "
                        "the chief runs and listens there (KERASTUNER_ORACLE_IP, "
                        "KERASTUNER_ORACLE_PORT), that this host can reach it, and that both "
                        "use TLS or neither does; or raise E2ETUNE_CHIEF_WAIT.") from None
                if not announced:
                    _say(f"waiting for the chief at {self.address} (up to {self.wait:g} s, "
                         "E2ETUNE_CHIEF_WAIT)...")
                    announced = True
                time.sleep(min(backoff * random.uniform(0.5, 1.0), self.wait - waited))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if announced:
                _say(f"the chief at {self.address} answers; going on.")
            return answer

    def _error(self, code: grpc.StatusCode, kind: str, details: str) -> Exception:
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return ChiefRefusedError(f"{details} (chief at {self.address})")
        if kind in ("SearchMismatch", "VersionMismatch"):
            return ChiefRefusedError(details)
        if kind == "LeaseLost":
            return LeaseLostError(details)
        known = getattr(errors, kind, None)
        if isinstance(known, type) and issubclass(known, Exception):
            return known(details)
        if kind in _BUILTIN_ERRORS:
            return getattr(builtins, kind)(details)
        if kind == "ValueTypeError":  # a wrong type of hyperparameter value (a TypeError)
            return _values.ValueTypeError(details)
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return RuntimeError(f"The chief at {self.address} does not know this call: it runs "
                                "an older e2etune. Run the same e2etune version everywhere.")
        return RuntimeError(f"The chief at {self.address} failed ({code.name}): {details}")

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

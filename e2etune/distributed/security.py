"""What protects the chief's service: a shared token, TLS, and bounded messages.

The token travels in each call's metadata and is compared in constant time;
a call without it is refused (UNAUTHENTICATED) and logged without any
secret. Only protobuf messages are exchanged: nothing received is
unpickled.
"""

from __future__ import annotations

import hmac
import logging
import pathlib
from typing import Any, Callable

import grpc

from e2etune.distributed.environment import Distribution

_LOG = logging.getLogger("e2etune")
#: The metadata key that carries the token.
TOKEN_KEY = "x-e2etune-token"
#: The largest message either side accepts, in bytes.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MESSAGE_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def _read(path: str, variable: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{variable}={path!r} cannot be read ({error.strerror}): give the path "
                         "of a PEM file.") from None


def server_credentials(distribution: Distribution) -> grpc.ServerCredentials | None:
    """TLS credentials of the chief, or None without `E2ETUNE_TLS_CERT`/`E2ETUNE_TLS_KEY`."""
    cert, key = distribution.tls_cert, distribution.tls_key
    if not cert and not key:
        return None
    if not cert or not key:
        missing = "E2ETUNE_TLS_KEY" if cert else "E2ETUNE_TLS_CERT"
        raise ValueError(f"TLS needs both E2ETUNE_TLS_CERT and E2ETUNE_TLS_KEY; {missing} is "
                         "not set. Set it, or unset the other to serve without TLS.")
    pair = (_read(key, "E2ETUNE_TLS_KEY"), _read(cert, "E2ETUNE_TLS_CERT"))
    return grpc.ssl_server_credentials([pair])


def channel_credentials(distribution: Distribution) -> grpc.ChannelCredentials | None:
    """The roots a worker checks the chief with: `E2ETUNE_TLS_CA`, else `E2ETUNE_TLS_CERT`."""
    if distribution.tls_ca:
        return grpc.ssl_channel_credentials(_read(distribution.tls_ca, "E2ETUNE_TLS_CA"))
    if distribution.tls_cert:
        return grpc.ssl_channel_credentials(_read(distribution.tls_cert, "E2ETUNE_TLS_CERT"))
    return None


def call_metadata(distribution: Distribution) -> tuple[tuple[str, str], ...]:
    """The metadata each call of a worker carries."""
    return ((TOKEN_KEY, distribution.auth_token),) if distribution.auth_token else ()


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses every call that does not carry the chief's token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def intercept_service(self, continuation: Callable, details: Any) -> Any:
        given = dict(details.invocation_metadata or ()).get(TOKEN_KEY)
        if given is not None and hmac.compare_digest(str(given).encode(), self._token):
            return continuation(details)
        method, reason = details.method, "a wrong" if given is not None else "no"

        def refuse(request: Any, context: grpc.ServicerContext) -> None:
            _LOG.warning("Refused a call to %s from %s: it carried %s auth token "
                         "(E2ETUNE_AUTH_TOKEN).", method, context.peer(), reason)
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          f"The chief refused the call: it carried {reason} auth token. Give "
                          "the workers the chief's E2ETUNE_AUTH_TOKEN.")

        return grpc.unary_unary_rpc_method_handler(refuse)

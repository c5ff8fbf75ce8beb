"""Protobuf schema of the persistent state of a search.

`e2etune_pb2` is generated from `e2etune.proto` by
`python -m e2etune.protos.generate`; never edit it by hand.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf import message as _message

from e2etune.errors import SearchStateError
from e2etune.protos import e2etune_pb2

__all__ = ["e2etune_pb2", "parse"]

_M = TypeVar("_M", bound=_message.Message)


def parse(message_type: type[_M], data: bytes, what: str) -> _M:
    """Parses `data` as `message_type`, raising `SearchStateError` if it is damaged.

    Args:
        message_type: The generated message class.
        data: The serialized bytes.
        what: What the bytes are, for the error message (e.g. "trial 'a1b2'").
    """
    message = message_type()
    try:
        message.ParseFromString(data)
    except _message.DecodeError as error:
        raise SearchStateError(
            f"The saved {what} is damaged and cannot be read ({error}). "
            "Pass `overwrite=True` to start a fresh search in this project."
        ) from None
    return message

"""The environment variables of a distributed search, and this process's role in it.

KerasTuner's variables switch distributed mode on; e2etune's names are
accepted too (KerasTuner's win when both are set):

- `KERASTUNER_TUNER_ID` / `E2ETUNE_TUNER_ID`: this process's id; the chief's
  contains "chief" (e.g. "chief"), each worker's is its own ("tuner0", ...).
- `KERASTUNER_ORACLE_IP` / `E2ETUNE_ORACLE_IP`: the address the chief listens
  on and the workers connect to (default: loopback, 127.0.0.1).
- `KERASTUNER_ORACLE_PORT` / `E2ETUNE_ORACLE_PORT`: its port.

And, for e2etune only:

- `E2ETUNE_AUTH_TOKEN`: a shared secret every call must carry.
- `E2ETUNE_TLS_CERT`, `E2ETUNE_TLS_KEY`: the chief's certificate and key
  (PEM files): the chief then serves over TLS.
- `E2ETUNE_TLS_CA`: the certificate workers verify the chief against (when
  unset, a worker that has `E2ETUNE_TLS_CERT` trusts that certificate).
- `E2ETUNE_CHIEF_WAIT`: how long a worker waits for an unreachable chief,
  in seconds (default 300).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from typing import Mapping

#: How long a worker waits for the chief by default, in seconds.
DEFAULT_CHIEF_WAIT = 300.0
#: Where the chief listens (and workers connect) when no address is given.
LOOPBACK = "127.0.0.1"
_NAMES = {
    "tuner_id": ("KERASTUNER_TUNER_ID", "E2ETUNE_TUNER_ID"),
    "ip": ("KERASTUNER_ORACLE_IP", "E2ETUNE_ORACLE_IP"),
    "port": ("KERASTUNER_ORACLE_PORT", "E2ETUNE_ORACLE_PORT"),
}


@dataclasses.dataclass(frozen=True)
class Distribution:
    """This process's part in a distributed search.

    Attributes:
        tuner_id: Its id (`KERASTUNER_TUNER_ID`).
        host: The chief's address (`KERASTUNER_ORACLE_IP`), as given.
        port: The chief's port.
        auth_token: The shared secret, or None (never printed: see `__repr__`).
        tls_cert, tls_key, tls_ca: Paths of the PEM files, or None.
        chief_wait: How long a worker waits for the chief, in seconds.
    """

    tuner_id: str
    host: str
    port: int
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    chief_wait: float = DEFAULT_CHIEF_WAIT

    @property
    def is_chief(self) -> bool:
        """Whether this process is the chief (its id contains "chief")."""
        return "chief" in self.tuner_id

    @property
    def address(self) -> str:
        """`host:port`, with an IPv6 address in brackets."""
        try:
            if ipaddress.ip_address(self.host).version == 6:
                return f"[{self.host}]:{self.port}"
        except ValueError:
            pass
        return f"{self.host}:{self.port}"


def _get(environ: Mapping[str, str], key: str) -> tuple[str | None, str]:
    for name in _NAMES[key]:
        if environ.get(name):
            return environ[name], name
    return None, _NAMES[key][0]


def from_environment(environ: Mapping[str, str] | None = None) -> Distribution | None:
    """This process's `Distribution`, or None when the search is not distributed.

    Raises:
        ValueError: when the variables are set only in part, or a value is unusable.
    """
    environ = os.environ if environ is None else environ
    tuner_id, _ = _get(environ, "tuner_id")
    host, host_name = _get(environ, "ip")
    port, port_name = _get(environ, "port")
    if host is None and port is None:
        return None  # a tuner id alone only names the tuner
    if port is None or tuner_id is None:
        missing = [name for value, name in ((tuner_id, "KERASTUNER_TUNER_ID"),
                                            (port, "KERASTUNER_ORACLE_PORT")) if value is None]
        raise ValueError(
            f"Distributed tuning needs KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
            f"KERASTUNER_ORACLE_PORT; {' and '.join(missing)} not set. Set it (the chief's "
            "tuner id contains 'chief', e.g. 'chief'; workers use 'tuner0', 'tuner1', ...), or "
            "unset the others to tune in one process.")
    host = host or LOOPBACK
    try:
        port_number = int(port)
        if not 0 < port_number < 65536:
            raise ValueError
    except ValueError:
        raise ValueError(f"{port_name}={port!r} is not a port number (1 to 65535).") from None
    wait = environ.get("E2ETUNE_CHIEF_WAIT") or str(DEFAULT_CHIEF_WAIT)
    try:
        chief_wait = float(wait)
        if not chief_wait >= 0:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"E2ETUNE_CHIEF_WAIT={wait!r} is not a number of seconds (0 or more).") from None
    return Distribution(
        tuner_id=tuner_id, host=host.strip(), port=port_number,
        auth_token=environ.get("E2ETUNE_AUTH_TOKEN") or None,
        tls_cert=environ.get("E2ETUNE_TLS_CERT") or None,
        tls_key=environ.get("E2ETUNE_TLS_KEY") or None,
        tls_ca=environ.get("E2ETUNE_TLS_CA") or None,
        chief_wait=chief_wait)

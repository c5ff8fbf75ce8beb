"""The warning of a chief that other hosts can reach without an auth token."""

from __future__ import annotations

import logging

import pytest

from e2etune.distributed import chief
from e2etune.distributed.environment import Distribution
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import RandomSearchOracle

from ._cluster import free_port

SECRET = "s3cret-t0ken-value"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost",
                                  "LOCALHOST", "worker.localhost"])
def test_loopback_addresses(host):
    assert chief.is_loopback(host)
    assert chief.open_warning(Distribution("chief", host, 8000)) is None


@pytest.mark.parametrize("host, address", [("0.0.0.0", "0.0.0.0:8000"), ("::", "[::]:8000"),
                                           ("10.1.2.3", "10.1.2.3:8000"),
                                           ("chief.cluster", "chief.cluster:8000")])
def test_an_open_address_without_a_token_is_named_with_the_fix(host, address):
    assert not chief.is_loopback(host)
    warning = chief.open_warning(Distribution("chief", host, 8000))
    assert warning is not None and address in warning
    for variable in ("E2ETUNE_AUTH_TOKEN", "E2ETUNE_TLS_CERT", "E2ETUNE_TLS_KEY",
                     "KERASTUNER_ORACLE_IP"):
        assert variable in warning


def test_tls_without_a_token_still_warns_that_anyone_gets_in():
    warning = chief.open_warning(Distribution("chief", "0.0.0.0", 8000, tls_cert="chief.pem",
                                              tls_key="chief.key"))
    assert warning is not None and "lets anyone in" in warning


@pytest.mark.parametrize("settings", [{"auth_token": SECRET},
                                      {"auth_token": SECRET, "tls_cert": "c", "tls_key": "k"}])
def test_a_token_protects_an_open_address(settings, caplog):
    caplog.set_level(logging.WARNING, logger="e2etune")
    distribution = Distribution("chief", "0.0.0.0", 8000, **settings)
    assert chief.open_warning(distribution) is None
    chief.warn_if_open(distribution)
    assert caplog.text == ""


def test_the_warning_is_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="e2etune")
    chief.warn_if_open(Distribution("chief", "0.0.0.0", 8000))
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "0.0.0.0:8000" in caplog.text and "without an auth token" in caplog.text


def serve_briefly(distribution: Distribution, tmp_path) -> None:
    hp = HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = RandomSearchOracle(hyperparameters=hp, max_trials=1)
    oracle._set_project_dir(str(tmp_path), "p")
    server, _ = chief.start_server(oracle, distribution)
    server.stop(grace=None)
    oracle.close()


def test_a_chief_on_loopback_does_not_warn(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="e2etune")
    serve_briefly(Distribution("chief", "127.0.0.1", free_port()), tmp_path)
    assert "without an auth token" not in caplog.text


def test_a_chief_taken_for_open_warns_when_it_starts(tmp_path, caplog, monkeypatch):
    # Loopback taken for an open address: no port beyond this host is opened.
    monkeypatch.setattr(chief, "is_loopback", lambda host: False)
    caplog.set_level(logging.WARNING, logger="e2etune")
    port = free_port()
    serve_briefly(Distribution("chief", "127.0.0.1", port), tmp_path)
    assert f"The chief listens on 127.0.0.1:{port}" in caplog.text

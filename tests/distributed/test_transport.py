"""The chief and workers over TLS, and on two hosts (network namespaces joined by a veth pair)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import uuid

import pytest

from e2etune.engine.trial import TrialStatus

from ._cluster import Cluster, finish, wait_for_text


def self_signed(tmp_path, *addresses: str) -> tuple[str, str]:
    """A certificate for `addresses` and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e2etune chief")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "chief.pem", tmp_path / "chief.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_with_a_self_signed_certificate_and_bayesian_workers_get_distinct_points(tmp_path):
    cert, key = self_signed(tmp_path, "127.0.0.1")
    cluster = Cluster(tmp_path, algorithm="bayesian", max_trials=9, sleep=0.1)
    cluster.extra.update(E2ETUNE_AUTH_TOKEN="tls-and-token")
    try:
        chief = cluster.chief(E2ETUNE_TLS_CERT=cert, E2ETUNE_TLS_KEY=key)
        plain = cluster.worker(E2ETUNE_CHIEF_WAIT="1")  # no TLS: it never gets through
        workers = [cluster.worker(E2ETUNE_TLS_CA=cert) for _ in range(3)]
        _, err = finish(plain)
        assert plain.returncode != 0 and "did not answer for 1 s" in err
        for process in [*workers, chief]:
            _, err = finish(process)
            assert process.returncode == 0, err
        assert "over TLS" in err
        trials = cluster.saved_trials()
        assert [t.status for t in trials.values()] == [TrialStatus.COMPLETED] * 9
        points = {(t.hyperparameters["x"], t.hyperparameters["n"]) for t in trials.values()}
        assert len(points) == 9
    finally:
        cluster.stop_all()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair: the chief's at .1, the workers' at .2."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add); run the tests as root")
    tag = uuid.uuid4().hex[:6]
    chief_ns, worker_ns = f"e2e-c-{tag}", f"e2e-w-{tag}"
    subnet = f"10.231.{int(tag, 16) % 250 + 1}"
    try:
        _ip("netns", "add", chief_ns)
        _ip("netns", "add", worker_ns)
        _ip("link", "add", f"vc{tag}", "type", "veth", "peer", "name", f"vw{tag}")
        for ns, link, host in ((chief_ns, f"vc{tag}", 1), (worker_ns, f"vw{tag}", 2)):
            _ip("link", "set", link, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{subnet}.{host}/24", "dev", link)
            _ip("-n", ns, "link", "set", link, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield chief_ns, worker_ns, f"{subnet}.1"
    finally:
        for ns in (chief_ns, worker_ns):  # deleting a namespace deletes its end of the pair
            _ip("netns", "delete", ns, check=False)
        _ip("link", "delete", f"vc{tag}", check=False)


def test_chief_and_workers_on_two_hosts_talk_over_the_veth_addresses(tmp_path, two_hosts):
    chief_ns, worker_ns, chief_address = two_hosts
    cluster = Cluster(tmp_path, host=chief_address, max_trials=8, sleep=0.05)
    try:
        chief = cluster.chief(prefix=("ip", "netns", "exec", chief_ns))
        wait_for_text(chief, f"serving the search 'shared' on {chief_address}:{cluster.port}")
        workers = [cluster.worker(prefix=("ip", "netns", "exec", worker_ns)) for _ in range(2)]
        for process in [*workers, chief]:
            _, err = finish(process)
            assert process.returncode == 0, err
        trials = cluster.saved_trials()
        assert [t.status for t in trials.values()] == [TrialStatus.COMPLETED] * 8
        assert all(c == {"start": 1, "end": 1} for c in cluster.runs().values())
        # The workers' trial folders are their own, never the chief's project folder.
        assert not (tmp_path / "chief" / "shared" / "trial_0").exists()
    finally:
        cluster.stop_all()

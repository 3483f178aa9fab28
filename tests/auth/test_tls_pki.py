"""The cluster PKI and kubeconfig files: what `kubeq certs` writes, signing CSRs, the CA pin."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster import kubeconfig, pki

ROOT = Path(__file__).resolve().parents[2]


def _cert(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), {
        str(a) for a in ext.get_values_for_type(x509.IPAddress)
    }


def test_kubeq_certs_writes_the_pki_and_an_admin_kubeconfig(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEQ_")}
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "certs", "--data-dir", str(tmp_path)]
        + ["--hosts", "api.example.test,10.1.2.3", "--ips", "192.168.7.7", "--port", "7443"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split()
    base = tmp_path / "pki"
    for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub", "tokens.csv"):
        assert str(base / name) in printed
        assert (base / name).exists()
    assert str(tmp_path / "kubeconfig") in printed
    for secret in ("ca.key", "apiserver.key", "sa.key", "tokens.csv"):
        assert stat.S_IMODE((base / secret).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kubeconfig").stat().st_mode) == 0o600

    serving = _cert(base / "apiserver.crt")
    names, ips = _sans(serving)
    assert {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.example.test",
    } <= names
    assert {"127.0.0.1", "10.1.2.3", "192.168.7.7"} <= ips
    assert any(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/16") for ip in ips) or any(
        ip.startswith("127.96.") for ip in ips
    )
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    ca = _cert(base / "ca.crt")
    assert serving.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3649

    token_line = (base / "tokens.csv").read_text().strip()
    token, user, _uid, groups = token_line.split(",", 3)
    assert user == "kubernetes-admin" and groups == '"system:masters"' and len(token) >= 32

    kc = kubeconfig.read(str(tmp_path / "kubeconfig"))
    assert kc.server == "https://127.0.0.1:7443"
    assert kc.ca_pem == (base / "ca.crt").read_bytes()
    assert kc.token == token


def test_ensure_pki_keeps_what_exists(tmp_path: Path) -> None:
    first = pki.ensure_pki(str(tmp_path))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    (tmp_path / "apiserver.crt").unlink()
    pki.ensure_pki(str(tmp_path), hosts=["extra.test"])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after["ca.crt"] == before["ca.crt"] and after["sa.key"] == before["sa.key"]
    assert after["tokens.csv"] == before["tokens.csv"]
    assert "extra.test" in _sans(_cert(first.serving_cert))[0]  # only the missing file was made again


def test_sign_csr_issues_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    p = pki.ensure_pki(str(tmp_path))
    csr_pem, _key = pki.make_csr("system:node:n1", ["system:nodes"])
    cert_pem = pki.sign_csr(
        Path(p.ca_cert).read_bytes(),
        Path(p.ca_key).read_bytes(),
        csr_pem,
        ["digital signature", "key encipherment", "client auth"],
        30,
    )
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    assert cert.issuer == _cert(p.ca_cert).subject
    assert (
        ExtendedKeyUsageOID.CLIENT_AUTH
        in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert 29 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 31
    cert.verify_directly_issued_by(_cert(p.ca_cert))


def test_sign_csr_refuses_a_tampered_request(tmp_path: Path) -> None:
    p = pki.ensure_pki(str(tmp_path))
    csr_pem, _ = pki.make_csr("alice")
    der = bytearray(x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # inside the signature
    bad = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ValueError):
        pki.sign_csr(Path(p.ca_cert).read_bytes(), Path(p.ca_key).read_bytes(), bad, ["client auth"], 1)


def test_ca_cert_hash_is_the_sha256_of_the_public_key_info(tmp_path: Path) -> None:
    p = pki.ensure_pki(str(tmp_path))
    spki = (
        _cert(p.ca_cert)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert pki.ca_cert_hash(p.ca_pem()) == "sha256:" + hashlib.sha256(spki).hexdigest()


def test_client_cert_kubeconfig_round_trips(tmp_path: Path) -> None:
    p = pki.ensure_pki(str(tmp_path / "pki"))
    cert, key = pki.issue_client_cert(p, "system:kube-scheduler")
    path = kubeconfig.write(
        str(tmp_path / "k"), "https://h:1", p.ca_pem(), cert_pem=cert, key_pem=key, user="sched"
    )
    kc = kubeconfig.read(path)
    assert (kc.server, kc.ca_pem, kc.cert_pem, kc.key_pem, kc.token) == (
        "https://h:1",
        p.ca_pem(),
        cert,
        key,
        None,
    )


def test_components_accept_kubeconfig_and_insecure_flags() -> None:
    from workers import cli

    for role in ("controller-manager", "scheduler", "beat", "hollow-nodes", "node"):
        extra = {"hollow-nodes": ["--count", "1"], "node": ["--name", "n1"]}.get(role, [])
        args = cli._parser().parse_args([role, *extra, "--kubeconfig", "/k", "--insecure"])
        assert (args.kubeconfig, args.insecure) == ("/k", True)
    args = cli._parser().parse_args(["apiserver", "--tls-cert-file", "c", "--client-ca-file", "ca"])
    assert (args.tls_cert_file, args.client_ca_file, args.insecure) == ("c", "ca", None)
    rest = ["--port", "0", "--kubeconfig=/k", "--address", "x"]
    assert cli._take_flag(rest, "--kubeconfig") == "/k" and rest == ["--port", "0", "--address", "x"]


def test_settings_api_server_is_https_unless_insecure() -> None:
    from cluster.settings import Settings

    assert Settings(port=7443).api_server == "https://127.0.0.1:7443"
    assert Settings(port=7443, insecure=True).api_server == "http://127.0.0.1:7443"
    assert Settings(server="https://lb:6443", insecure=True).api_server == "https://lb:6443"

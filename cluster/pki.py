"""The cluster's public-key infrastructure: a CA, the API server's serving certificate, client certificates.

``ensure_pki`` creates what is missing in a directory and keeps what exists, so running it twice changes
nothing. Files (secret ones are mode 0600):

- ``ca.crt`` / ``ca.key``: the cluster CA (EC P-256, ten years); it signs serving and client certificates.
- ``apiserver.crt`` / ``apiserver.key``: serverAuth certificate with the in-cluster names and local IPs.
- ``sa.key`` / ``sa.pub``: RSA 2048 pair that signs and verifies ServiceAccount tokens.
- ``tokens.csv``: the static token file with one random admin token (``kubernetes-admin``,
  group ``system:masters``).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVING_DAYS = 3650
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
IN_CLUSTER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

# Kubernetes key usages (CSR spec.usages) -> what they mean in an X.509 certificate.
_EXTENDED = {
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}
_KEY_USAGE = {
    "digital signature": "digital_signature",
    "key encipherment": "key_encipherment",
    "content commitment": "content_commitment",
    "data encipherment": "data_encipherment",
    "key agreement": "key_agreement",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
}


@dataclass(frozen=True)
class Pki:
    """Paths of the files in a PKI directory."""

    dir: str

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    @property
    def ca_cert(self) -> str:
        return self.path("ca.crt")

    @property
    def ca_key(self) -> str:
        return self.path("ca.key")

    @property
    def serving_cert(self) -> str:
        return self.path("apiserver.crt")

    @property
    def serving_key(self) -> str:
        return self.path("apiserver.key")

    @property
    def sa_key(self) -> str:
        return self.path("sa.key")

    @property
    def sa_pub(self) -> str:
        return self.path("sa.pub")

    @property
    def tokens(self) -> str:
        return self.path("tokens.csv")

    def ca_pem(self) -> bytes:
        with open(self.ca_cert, "rb") as f:
            return f.read()

    def admin_token(self) -> str:
        """The token of ``kubernetes-admin`` in tokens.csv."""
        with open(self.tokens) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) >= 2 and parts[1] == ADMIN_USER:
                    return parts[0]
        raise LookupError(f"no {ADMIN_USER} token in {self.tokens}")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(path: str, data: bytes, secret: bool = False) -> None:
    """Write atomically; secret files are created 0600."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str, orgs: tuple[str, ...] | list[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key_usage(**on: bool) -> x509.KeyUsage:
    fields = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    fields.update(on)
    return x509.KeyUsage(**fields)


def _load_ca(ca_cert_pem: bytes, ca_key_pem: bytes) -> tuple[x509.Certificate, object]:
    cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = serialization.load_pem_private_key(ca_key_pem, password=None)
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: object,
    subject: x509.Name,
    public_key: object,
    days: int,
    extended: list[x509.ObjectIdentifier],
    key_usage: x509.KeyUsage,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=days), ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]


def make_ca(cn: str = "kubernetes", days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A new self-signed CA: ``(cert_pem, key_pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def sign_csr(ca_cert_pem: bytes, ca_key_pem: bytes, csr_pem: bytes, usages: list[str], days: int) -> bytes:
    """Issue a certificate for a PEM CSR, signed by the CA; returns the certificate PEM.

    The subject comes from the CSR; ``usages`` are Kubernetes' names ("client auth", "digital signature",
    ...); unknown ones are ignored. Raises ``ValueError`` when the CSR's signature does not verify.
    """
    if isinstance(csr_pem, str):
        csr_pem = csr_pem.encode()
    csr = x509.load_pem_x509_csr(csr_pem)
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature is invalid")
    ca, ca_key = _load_ca(ca_cert_pem, ca_key_pem)
    extended = [_EXTENDED[u] for u in usages if u in _EXTENDED]
    key_usage = _key_usage(**{_KEY_USAGE[u]: True for u in usages if u in _KEY_USAGE})
    sans: list[x509.GeneralName] = []
    try:
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        pass
    cert = _leaf(ca, ca_key, csr.subject, csr.public_key(), days, extended, key_usage, sans or None)
    return cert.public_bytes(serialization.Encoding.PEM)


def make_csr(cn: str, orgs: tuple[str, ...] | list[str] = ()) -> tuple[bytes, bytes]:
    """A new EC key and a CSR for it: ``(csr_pem, key_pem)`` (what a joining node sends)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(cn, orgs)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def ca_cert_hash(ca_pem: bytes | str) -> str:
    """kubeadm's CA pin: ``sha256:<hex digest of the DER SubjectPublicKeyInfo>``."""
    if isinstance(ca_pem, str):
        ca_pem = ca_pem.encode()
    spki = (
        x509.load_pem_x509_certificate(ca_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def issue_client_cert(pki: Pki, cn: str, orgs: tuple[str, ...] | list[str] = (), days: int = 365):
    """A client certificate (clientAuth) for user ``cn`` in groups ``orgs``: ``(cert_pem, key_pem)``."""
    ca, ca_key = _load_ca(*_read_ca(pki))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(
        ca,
        ca_key,
        _name(cn, orgs),
        key.public_key(),
        days,
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        _key_usage(digital_signature=True, key_encipherment=True),
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _read_ca(pki: Pki) -> tuple[bytes, bytes]:
    with open(pki.ca_cert, "rb") as c, open(pki.ca_key, "rb") as k:
        return c.read(), k.read()


def first_service_ip(cidr: str) -> str:
    """The first usable address of the service range (the ``kubernetes`` Service's ClusterIP)."""
    return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))


def _serving_sans(hosts: list[str], ips: list[str]) -> list[x509.GeneralName]:
    names = list(IN_CLUSTER_NAMES)
    addresses = ["127.0.0.1"]
    for h in [socket.gethostname(), *hosts]:
        try:
            ipaddress.ip_address(h)
            addresses.append(h)
        except ValueError:
            names.append(h)
    addresses += list(ips)
    out: list[x509.GeneralName] = []
    for n in dict.fromkeys(n for n in names if n):
        out.append(x509.DNSName(n))
    for a in dict.fromkeys(a for a in addresses if a and a not in ("0.0.0.0", "::")):
        out.append(x509.IPAddress(ipaddress.ip_address(a)))
    return out


def ensure_pki(
    pki_dir: str,
    hosts: list[str] | tuple[str, ...] = (),
    ips: list[str] | tuple[str, ...] = (),
    service_cidr: str = "10.96.0.0/16",
) -> Pki:
    """Create the missing files of the PKI in ``pki_dir`` and return it; existing files are kept.

    ``hosts``/``ips`` are extra subject alternative names of the serving certificate (the bind address
    belongs in ``ips``); the first service IP and the in-cluster names are always included.
    """
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    pki = Pki(pki_dir)
    if not (os.path.exists(pki.ca_cert) and os.path.exists(pki.ca_key)):
        cert_pem, key_pem = make_ca()
        _write(pki.ca_key, key_pem, secret=True)
        _write(pki.ca_cert, cert_pem)
    if not (os.path.exists(pki.serving_cert) and os.path.exists(pki.serving_key)):
        ca, ca_key = _load_ca(*_read_ca(pki))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _leaf(
            ca,
            ca_key,
            _name("kube-apiserver"),
            key.public_key(),
            SERVING_DAYS,
            [ExtendedKeyUsageOID.SERVER_AUTH],
            _key_usage(digital_signature=True, key_encipherment=True),
            _serving_sans(list(hosts), [*ips, first_service_ip(service_cidr)]),
        )
        _write(pki.serving_key, _key_pem(key), secret=True)
        _write(pki.serving_cert, cert.public_bytes(serialization.Encoding.PEM))
    if not (os.path.exists(pki.sa_key) and os.path.exists(pki.sa_pub)):
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write(pki.sa_key, _key_pem(sa), secret=True)
        pub = sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(pki.sa_pub, pub)
    if not os.path.exists(pki.tokens):
        token = secrets.token_hex(16)
        _write(pki.tokens, f'{token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"\n'.encode(), secret=True)
    return pki

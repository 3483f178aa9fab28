"""Compact JWS with RS256: what ServiceAccount tokens are made of.

:func:`sign` builds ``header.payload.signature`` (base64url without padding) over a JSON claim set;
:func:`verify` checks the signature against any of the given public keys and returns the claims,
or raises :class:`InvalidToken` (a malformed token, another algorithm, a bad signature).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Claims = dict[str, Any]


class InvalidToken(Exception):
    """The token is not a valid RS256 JWS from one of our keys."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidToken("bad base64url") from None


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """``kid``: base64url of the SHA-256 of the key's DER (SubjectPublicKeyInfo) form."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest())


def sign(private_key: rsa.RSAPrivateKey, claims: Claims) -> str:
    """The compact RS256 JWS of ``claims`` with a ``kid`` header."""
    header = {"alg": "RS256", "kid": key_id(private_key.public_key())}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def looks_like_jwt(token: str) -> bool:
    """Cheap shape test: three dot-separated parts and a JSON header (``eyJ`` = ``{"``)."""
    return token.startswith("eyJ") and token.count(".") == 2


def verify(token: str, public_keys: Sequence[rsa.RSAPublicKey]) -> Claims:
    """The claims of ``token`` if one of ``public_keys`` signed it; ``InvalidToken`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        raise InvalidToken("bad JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise InvalidToken("unsupported token")
    signature = b64url_decode(parts[2])
    signing_input = (parts[0] + "." + parts[1]).encode("ascii")
    kid = header.get("kid")
    candidates = [k for k in public_keys if kid is None or key_id(k) == kid] or list(public_keys)
    for key in candidates:
        try:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return claims
        except InvalidSignature:
            continue
    raise InvalidToken("bad signature")


def load_public_keys(pem: bytes) -> list[rsa.RSAPublicKey]:
    """Every RSA key in a PEM file: public keys, certificates' keys, and private keys' public halves."""
    from cryptography import x509

    keys: list[rsa.RSAPublicKey] = []
    for block in _pem_blocks(pem):
        kind = block.split(b"\n", 1)[0]
        key: Any
        if b"CERTIFICATE" in kind:
            key = x509.load_pem_x509_certificate(block).public_key()
        elif b"PRIVATE KEY" in kind:
            key = serialization.load_pem_private_key(block, password=None).public_key()
        elif b"PUBLIC KEY" in kind:
            key = serialization.load_pem_public_key(block)
        else:
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys.append(key)
    return keys


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The RSA private key in ``pem``; ``ValueError`` if it is something else."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the ServiceAccount signing key must be an RSA private key")
    return key


def _pem_blocks(pem: bytes) -> list[bytes]:
    blocks, current = [], []
    for line in pem.splitlines():
        if line.startswith(b"-----BEGIN "):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END "):
                blocks.append(b"\n".join(current) + b"\n")
                current = []
    return blocks

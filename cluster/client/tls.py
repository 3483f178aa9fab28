"""TLS for the API client: an ``ssl.SSLContext`` from PEM bytes (a CA, an optional client certificate)."""

from __future__ import annotations

import os
import ssl
import tempfile


def ssl_context(
    ca_pem: bytes | None = None,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """A client context trusting ``ca_pem`` (else the system CAs), presenting the client certificate if given.

    ``verify=False`` skips server verification (kubeconfig ``insecure-skip-tls-verify``).
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode() if isinstance(ca_pem, bytes) else ca_pem)
    if cert_pem and key_pem:
        load_cert_chain_pem(ctx, cert_pem, key_pem)
    return ctx


def load_cert_chain_pem(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """``ctx.load_cert_chain`` from memory: ssl only reads files, so a private temp file is used briefly."""
    fd, path = tempfile.mkstemp(prefix="kubeq-client-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert_pem if cert_pem.endswith(b"\n") else cert_pem + b"\n")
            f.write(key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)

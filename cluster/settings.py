"""The one settings object: defaults, then ``KUBEQ_*`` environment variables, then flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field


def _default_data_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".kubeq")


@dataclass
class Settings:
    """Configuration shared by every kubeq process.

    Each field can be set by the environment variable ``KUBEQ_<FIELD>`` (upper case).
    """

    redis_url: str = ""  # empty: `kubeq up` starts the embedded Redis
    state_prefix: str = "kubeq"  # key prefix of cluster state in Redis (the broker uses another)
    data_dir: str = field(default_factory=_default_data_dir)
    bind_address: str = "127.0.0.1"
    port: int = 6443
    apiserver_workers: int = 2
    worker_connections: int = 2000  # open connections (watch streams) per API server worker
    compaction_keep: int = 100_000  # revisions kept in the change streams
    compaction_interval: float = 60.0  # seconds between compactions
    watch_heartbeat: float = 1.0
    broker_url: str = ""  # Celery broker; empty: the state Redis (broker keys live under broker_prefix)
    broker_prefix: str = "kubeq-broker:"
    server: str = ""  # API server URL for components (empty: https://127.0.0.1:<port>, http if insecure)
    resync_interval: float = 300.0  # seconds between periodic resyncs of every controller
    service_cluster_ip_range: str = "10.96.0.0/16"  # ClusterIPs (non-root userspace proxy: 127.96.0.0/16)
    service_node_port_range: str = "30000-32767"  # NodePorts, inclusive
    # ---- security (issue 7). `insecure` is the development switch: plain HTTP, no authentication,
    # every request allowed. Otherwise the API server serves TLS and authenticates every request.
    insecure: bool = False
    kubeconfig: str = ""  # components: the kubeconfig (server, CA, credentials) they talk to the API with
    pki_dir: str = ""  # where `kubeq certs` keeps the cluster CA and keys (empty: <data_dir>/pki)
    tls_cert_file: str = ""  # API server serving certificate (PEM)
    tls_private_key_file: str = ""
    client_ca_file: str = ""  # CA that signs client certificates (x509 authentication)
    token_auth_file: str = ""  # static bearer tokens, CSV: token,user,uid,"group1,group2"
    service_account_key_file: str = ""  # public key that verifies ServiceAccount JWTs
    service_account_signing_key_file: str = ""  # private key that signs them (TokenRequest)
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    cluster_signing_cert_file: str = ""  # CA the CSR signer issues client certificates with
    cluster_signing_key_file: str = ""
    audit_log_path: str = ""  # JSON lines, one per write; empty: no audit log ("-": stdout)

    @property
    def api_server(self) -> str:
        """``server``, else the local API server: https unless ``insecure``."""
        scheme = "http" if self.insecure else "https"
        return self.server or f"{scheme}://{self.bind_address}:{self.port}"

    @property
    def pki(self) -> str:
        """The directory of the cluster CA and keys."""
        return self.pki_dir or os.path.join(self.data_dir, "pki")

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url or "redis://127.0.0.1:6379/0"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, overridden by ``KUBEQ_*`` variables, overridden by non-None ``overrides``."""
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get("KUBEQ_" + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _convert(type_name: object, raw: str) -> object:
    if type_name in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if type_name in (int, "int"):
        return int(raw)
    if type_name in (float, "float"):
        return float(raw)
    return raw

"""The DNS server announces itself: Service ``kube-system/kube-dns`` and one EndpointSlice per replica.

``dns_service_ip(cidr)`` is the 10th address of the service range (``10.96.0.10`` for
``10.96.0.0/16``), the address Kubernetes clusters conventionally give cluster DNS.
``Registration.ensure()`` creates the Service when it is missing (clusterIP that address, ports
``dns``/UDP/53 and ``dns-tcp``/TCP/53 with targetPort the real listening port, no selector, label
``k8s-app=kube-dns``) and this replica's EndpointSlice (label ``endpointslice.kubernetes.io/
managed-by=kubeq-dns``, one endpoint: the advertised address and port) when it is missing or
different; it is idempotent and cheap, so callers run it at start, when a watch reports either
object deleted, and now and then. ``withdraw()`` deletes this replica's slice (other replicas keep
theirs; the Service stays).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from cluster.settings import Settings

SERVICES = lookup("", "v1", "services")
SLICES = lookup("discovery.k8s.io", "v1", "endpointslices")
NAMESPACE, NAME = "kube-system", "kube-dns"
MANAGED_BY = "kubeq-dns"
DEFAULT_SERVICE_RANGE = "10.96.0.0/16"
log = logging.getLogger(__name__)


def service_range() -> str:
    """The Service CIDR: setting ``service_cluster_ip_range`` (``$KUBEQ_SERVICE_CLUSTER_IP_RANGE``,
    default ``10.96.0.0/16``)."""
    value = getattr(Settings.from_env(), "service_cluster_ip_range", "") or DEFAULT_SERVICE_RANGE
    return str(value).strip()


def dns_service_ip(cidr: str | None = None) -> str:
    """The 10th address of the Service CIDR: the kube-dns ClusterIP."""
    return str(ipaddress.ip_network(cidr or service_range(), strict=False).network_address + 10)


def host_address() -> str:
    """This host's primary address (the source of its default route), else 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class Registration:
    """This replica's registration as cluster DNS (see the module doc)."""

    def __init__(self, client: Client, ip: str, port: int, cluster_ip: str | None = None) -> None:
        self.client, self.ip, self.port = client, ip, port
        self.cluster_ip = cluster_ip or dns_service_ip()
        digest = hashlib.sha1(f"{ip}:{port}".encode()).hexdigest()[:10]
        self.slice_name = f"{NAME}-{digest}"

    def service(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"k8s-app": NAME}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": self.cluster_ip,
                "ports": [
                    {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": self.port},
                    {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": self.port},
                ],
            },
        }

    def endpoint_slice(self) -> dict:
        family = "IPv6" if ":" in self.ip else "IPv4"
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": self.slice_name,
                "namespace": NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": NAME,
                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
                    "k8s-app": NAME,
                },
            },
            "addressType": family,
            "endpoints": [
                {
                    "addresses": [self.ip],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "hostname": f"dns-{self.ip.replace('.', '-').replace(':', '-')}-{self.port}",
                }
            ],
            "ports": [
                {"name": "dns", "protocol": "UDP", "port": self.port},
                {"name": "dns-tcp", "protocol": "TCP", "port": self.port},
            ],
        }

    def ensure(self) -> list[str]:
        """Create what is missing (or stale, for the slice); the names of what was written."""
        written: list[str] = []
        try:
            self.client.get(SERVICES, NAME, NAMESPACE)
        except errors.NotFound:
            try:
                self.client.create(self.service())
                written.append(f"services/{NAME}")
            except errors.AlreadyExists:
                pass
        want = self.endpoint_slice()
        try:
            have = self.client.get(SLICES, self.slice_name, NAMESPACE)
        except errors.NotFound:
            try:
                self.client.create(want)
                written.append(f"endpointslices/{self.slice_name}")
            except errors.AlreadyExists:
                pass
            return written
        if any(have.get(k) != want[k] for k in ("endpoints", "ports", "addressType")):
            want["metadata"]["resourceVersion"] = have["metadata"]["resourceVersion"]
            try:
                self.client.update(want)
                written.append(f"endpointslices/{self.slice_name}")
            except (errors.Conflict, errors.NotFound):
                pass  # changed meanwhile: the next ensure() converges
        return written

    def withdraw(self) -> None:
        """Delete this replica's EndpointSlice (gone already is fine)."""
        try:
            self.client.delete(SLICES, self.slice_name, NAMESPACE)
        except errors.NotFound:
            pass

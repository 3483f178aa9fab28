"""The ≥5,000-request OpenAPI fuzz on the secure three-host cluster, as a tenant.

The fuzzer holds a ServiceAccount token with ``edit`` in its own namespace, so it exercises the whole
pipeline real users go through (TLS, JWT authentication, RBAC) and every operation: namespaced ones in
its namespace land, the rest are refused with 403 Status. Afterwards: no 5xx, every 4xx a Status, the
API server answers, and both node hosts are still Ready (a tenant cannot touch them).
"""

from __future__ import annotations

import pytest

from ops import hosts
from ops.fuzz.openapi_run import NAMESPACE, load_documents, new_session
from ops.fuzz.openapi_run import fuzz_server as run_fuzz
from ops.hosts import faults
from ops.hosts.faults import Api
from tests.faults.conftest import needs_hosts
from tests.fuzz.test_openapi_fuzz import MIB, assert_clean

pytestmark = [pytest.mark.slow, needs_hosts]
FUZZER = "fuzzer"
HOME = "fuzz-tenant"  # the fuzzer's ServiceAccount lives outside the namespace it may edit (or it deletes itself)


def tenant_token(kube: Api) -> str:
    """A token of ServiceAccount ``fuzz-tenant/fuzzer``, bound to ``edit`` in namespace ``fuzz`` only."""
    for name in (NAMESPACE, HOME):
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        assert kube.call("POST", "/api/v1/namespaces", ns)[0] in (201, 409)
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": FUZZER}}
    assert kube.call("POST", f"/api/v1/namespaces/{HOME}/serviceaccounts", sa)[0] in (201, 409)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "fuzzer-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": FUZZER, "namespace": HOME}],
    }
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings"
    assert kube.call("POST", path, binding)[0] in (201, 409)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    code, reply = kube.call("POST", f"/api/v1/namespaces/{HOME}/serviceaccounts/{FUZZER}/token", request)
    assert code == 201, reply
    return str(reply["status"]["token"])


def ready_nodes(kube: Api) -> set[str]:
    code, nodes = kube.call("GET", "/api/v1/nodes")
    assert code == 200, nodes
    return {
        n["metadata"]["name"]
        for n in nodes["items"]
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
    }


def test_five_thousand_requests_as_a_tenant_never_5xx(cluster: hosts.Cluster, kube: Api) -> None:
    before = ready_nodes(kube)
    token = tenant_token(kube)
    admin_token = kube.headers["Authorization"].removeprefix("Bearer ")  # the admin kubeconfig's token
    docs = load_documents(cluster.server, new_session(admin_token, cluster.ca_file))
    pid = (faults.find(cluster, "apiserver") or [None])[0]
    report = run_fuzz(
        cluster.server,
        examples=13,
        seed_value=3,
        token=token,
        verify=cluster.ca_file,
        docs=docs,
        server_pid=pid,
    )
    assert_clean(report, min_requests=5000)
    assert 403 in report.codes, report.table()  # the cluster-scoped writes were refused
    assert report.codes.get(401, 0) == 0, report.table()  # its token stayed valid throughout
    assert report.rss_after - report.rss_before < 300 * MIB, report.table()
    assert ready_nodes(kube) >= before, "a node host stopped being Ready during the tenant's fuzz run"

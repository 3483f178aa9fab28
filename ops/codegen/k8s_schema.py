"""Extract Kubernetes' type facts into ``cluster/api/schema/definitions.json``.

Reads the JSON schemas shipped by the ``kubernetes-validate`` package (install with
``pip install -e .[codegen]``) and keeps only facts: field names, types, formats,
required fields, group-version-kinds and the patch/list extensions used by strategic
merge patch and server-side apply. Descriptions are dropped; kubeq writes its own.

Run: ``python -m ops.codegen.k8s_schema [--version v1.32.0]``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

ROOTS = [
    "io.k8s.api.core.v1.Namespace",
    "io.k8s.api.core.v1.Pod",
    "io.k8s.api.core.v1.Binding",
    "io.k8s.api.core.v1.Node",
    "io.k8s.api.core.v1.Service",
    "io.k8s.api.core.v1.Endpoints",
    "io.k8s.api.core.v1.ConfigMap",
    "io.k8s.api.core.v1.Secret",
    "io.k8s.api.core.v1.ServiceAccount",
    "io.k8s.api.core.v1.Event",
    "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.apps.v1.ReplicaSet",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.api.policy.v1.Eviction",
    "io.k8s.api.policy.v1.PodDisruptionBudget",
    "io.k8s.api.batch.v1.Job",
    "io.k8s.api.batch.v1.CronJob",
    "io.k8s.api.discovery.v1.EndpointSlice",
    "io.k8s.api.coordination.v1.Lease",
    "io.k8s.api.events.v1.Event",
    "io.k8s.api.scheduling.v1.PriorityClass",
    "io.k8s.api.rbac.v1.Role",
    "io.k8s.api.rbac.v1.ClusterRole",
    "io.k8s.api.rbac.v1.RoleBinding",
    "io.k8s.api.rbac.v1.ClusterRoleBinding",
    "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    "io.k8s.api.authorization.v1.SubjectAccessReview",
    "io.k8s.api.authorization.v1.SelfSubjectRulesReview",
    "io.k8s.api.authentication.v1.TokenRequest",
    "io.k8s.api.authentication.v1.TokenReview",
    "io.k8s.api.authentication.v1.SelfSubjectReview",
    "io.k8s.api.certificates.v1.CertificateSigningRequest",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
]

KEEP_EXT = (
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _clean(node: dict[str, Any], refs: set[str]) -> dict[str, Any]:
    """One schema node with descriptions dropped, nullable types collapsed, refs rewritten."""
    out: dict[str, Any] = {}
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        refs.add(name)
        out["$ref"] = "#/components/schemas/" + name
    if "oneOf" in node:  # IntOrString and Quantity: string or number
        kinds = {t for o in node["oneOf"] for t in ([o["type"]] if isinstance(o["type"], str) else o["type"])}
        out["type"] = "string"
        out["format"] = "int-or-string" if "integer" in kinds else "quantity"
        if "integer" in kinds:
            out["x-kubernetes-int-or-string"] = True
    t = node.get("type")
    if isinstance(t, list):
        t = [x for x in t if x != "null"]
        t = t[0] if len(t) == 1 else (t or None)
    if t:
        out["type"] = t
    if "format" in node:
        out["format"] = node["format"]
    if "properties" in node:
        out["properties"] = {k: _clean(v, refs) for k, v in sorted(node["properties"].items())}
    if "items" in node:
        out["items"] = _clean(node["items"], refs)
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _clean(node["additionalProperties"], refs)
    if node.get("required"):
        out["required"] = sorted(node["required"])
    for ext in KEEP_EXT:
        if ext in node:
            out[ext] = node[ext]
    return out


def extract(defs: dict[str, Any]) -> dict[str, Any]:
    """The closure of ``ROOTS`` over references, cleaned."""
    result: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in result:
            continue
        refs: set[str] = set()
        result[name] = _clean(defs[name], refs)
        todo.extend(sorted(refs - result.keys()))
    return dict(sorted(result.items()))


def main() -> None:
    import kubernetes_validate  # codegen-only dependency

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", default="v1.32.0")
    args = parser.parse_args()
    base = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    defs = json.loads((base / f"{args.version}-local" / "_definitions.json").read_text())["$defs"]
    out = pathlib.Path(__file__).resolve().parents[2] / "cluster" / "api" / "schema" / "definitions.json"
    data = {"kubernetesVersion": args.version, "schemas": extract(defs)}
    out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(data['schemas'])} schemas to {out}")


if __name__ == "__main__":
    main()

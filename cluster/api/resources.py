"""The table of resource kinds kubeq serves: names, scope, subresources, selectors.

Everything that routes, discovers, prints or stores by resource looks kinds up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    """One REST resource (``pods``, ``deployments.apps``, ...)."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    schema: str  # name in cluster/api/schema/definitions.json
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_selectors: tuple[str, ...] = ()  # beyond metadata.name / metadata.namespace
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    has_status: bool = field(default=False)
    stored: bool = True  # False: a create-only review answered at once (SelfSubjectAccessReview)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def qualified(self) -> str:
        """``pods`` or ``deployments.apps``: the name used in error messages and store keys."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def key(self, namespace: str | None, name: str) -> str:
        """The store key of one object: ``ns/name`` for namespaced kinds, ``name`` otherwise."""
        return f"{namespace}/{name}" if self.namespaced else name


_CORE = "io.k8s.api.core.v1."
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

RESOURCES: tuple[Resource, ...] = (
    Resource(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        False,
        _CORE + "Namespace",
        ("ns",),
        ("status", "finalize"),
        field_selectors=("status.phase",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),  # no delete-all
        has_status=True,
    ),
    Resource(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        True,
        _CORE + "Pod",
        ("po",),
        ("status", "binding", "eviction", "log"),
        ("all",),
        (
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
        has_status=True,
    ),
    Resource(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        False,
        _CORE + "Node",
        ("no",),
        ("status",),
        field_selectors=("spec.unschedulable",),
        has_status=True,
    ),
    Resource(
        "",
        "v1",
        "Service",
        "services",
        "service",
        True,
        _CORE + "Service",
        ("svc",),
        ("status",),
        ("all",),
        ("spec.clusterIP", "spec.type"),
        has_status=True,
    ),
    Resource("", "v1", "Endpoints", "endpoints", "endpoints", True, _CORE + "Endpoints", ("ep",)),
    Resource("", "v1", "ConfigMap", "configmaps", "configmap", True, _CORE + "ConfigMap", ("cm",)),
    Resource("", "v1", "Secret", "secrets", "secret", True, _CORE + "Secret", (), field_selectors=("type",)),
    Resource(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        True,
        _CORE + "ServiceAccount",
        ("sa",),
        ("token",),
    ),
    Resource(
        "", "v1", "Event", "events", "event", True, _CORE + "Event", ("ev",), field_selectors=_EVENT_FIELDS
    ),
    Resource(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        True,
        "io.k8s.api.apps.v1.Deployment",
        ("deploy",),
        ("status", "scale"),
        ("all",),
        has_status=True,
    ),
    Resource(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        True,
        "io.k8s.api.apps.v1.ReplicaSet",
        ("rs",),
        ("status", "scale"),
        ("all",),
        field_selectors=("status.replicas",),
        has_status=True,
    ),
    Resource(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        True,
        "io.k8s.api.batch.v1.Job",
        (),
        ("status",),
        ("all",),
        field_selectors=("status.successful",),
        has_status=True,
    ),
    Resource(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        True,
        "io.k8s.api.batch.v1.CronJob",
        ("cj",),
        ("status",),
        ("all",),
        has_status=True,
    ),
    Resource(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        True,
        "io.k8s.api.discovery.v1.EndpointSlice",
        field_selectors=("addressType",),
    ),
    Resource(
        "coordination.k8s.io", "v1", "Lease", "leases", "lease", True, "io.k8s.api.coordination.v1.Lease"
    ),
    Resource(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        True,
        "io.k8s.api.policy.v1.PodDisruptionBudget",
        ("pdb",),
        ("status",),
        has_status=True,
    ),
    Resource(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        False,
        "io.k8s.api.scheduling.v1.PriorityClass",
        ("pc",),
    ),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True, "io.k8s.api.rbac.v1.Role"),
    Resource(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        False,
        "io.k8s.api.rbac.v1.ClusterRole",
    ),
    Resource(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        True,
        "io.k8s.api.rbac.v1.RoleBinding",
    ),
    Resource(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        False,
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
    ),
    Resource(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        False,
        "io.k8s.api.certificates.v1.CertificateSigningRequest",
        ("csr",),
        ("status", "approval"),
        field_selectors=("spec.signerName",),
        has_status=True,
    ),
    # Reviews: create-only, answered at once and never stored (``stored=False``).
    Resource(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        False,
        "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
        verbs=("create",),
        stored=False,
    ),
    Resource(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        False,
        "io.k8s.api.authorization.v1.SelfSubjectRulesReview",
        verbs=("create",),
        stored=False,
    ),
    Resource(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        "subjectaccessreview",
        False,
        "io.k8s.api.authorization.v1.SubjectAccessReview",
        verbs=("create",),
        stored=False,
    ),
    Resource(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        "tokenreview",
        False,
        "io.k8s.api.authentication.v1.TokenReview",
        verbs=("create",),
        stored=False,
    ),
    Resource(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview",
        False,
        "io.k8s.api.authentication.v1.SelfSubjectReview",
        verbs=("create",),
        stored=False,
    ),
    Resource(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        True,
        "io.k8s.api.events.v1.Event",
        ("ev",),
        field_selectors=(
            "reason",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid",
            "reportingController",
        ),
    ),
)

# Kinds that exist only as request/response bodies of subresources.
SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale", "io.k8s.api.autoscaling.v1.Scale"),
    "binding": ("", "v1", "Binding", _CORE + "Binding"),
    "eviction": ("policy", "v1", "Eviction", "io.k8s.api.policy.v1.Eviction"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", "io.k8s.api.authentication.v1.TokenRequest"),
}

STORED: tuple[Resource, ...] = tuple(r for r in RESOURCES if r.stored)  # kinds that exist as objects

_BY_GVR = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_GVK = {(r.group, r.version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at ``/apis/{group}/{version}/{plural}``, or None."""
    return _BY_GVR.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    """The resource for an object's ``apiVersion`` and ``kind``, or None."""
    group, _, version = api_version.rpartition("/")
    return _BY_GVK.get((group, version, kind))


def group_versions() -> dict[str, list[str]]:
    """Every served group (``""`` for core) with its versions, in discovery order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out


def in_group_version(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]

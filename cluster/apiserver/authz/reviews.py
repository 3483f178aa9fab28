"""Access reviews, answered without storing: SelfSubjectAccessReview (may the caller ...?),
SubjectAccessReview (may this user ...?) and SelfSubjectRulesReview (what may the caller do in a
namespace?). These make ``kubectl auth can-i`` (also with ``--list`` and ``--as``) work.

Importing this module registers the three answers with ``cluster.apiserver.virtual``.
"""

from __future__ import annotations

import copy
from typing import Any

from cluster import errors
from cluster.apiserver.auth import Attributes, Decision, UserInfo
from cluster.apiserver.authz import authorizer_for
from cluster.apiserver.authz.node import node_name
from cluster.apiserver.handlers import Request
from cluster.apiserver.virtual import answers

Obj = dict[str, Any]
API_VERSION = "authorization.k8s.io/v1"


def attributes(user: UserInfo, spec: Obj) -> Attributes:
    """The request a review's ``spec`` describes; ``BadRequest`` when it names neither kind."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        return Attributes(
            user,
            str(res.get("verb") or ""),
            True,
            str(res.get("group") or ""),
            str(res.get("version") or ""),
            str(res.get("resource") or ""),
            str(res.get("subresource") or ""),
            str(res.get("namespace") or ""),
            str(res.get("name") or ""),
        )
    if isinstance(non, dict):
        return Attributes(user, str(non.get("verb") or ""), False, path=str(non.get("path") or ""))
    raise errors.Invalid(
        "spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or "
        "resourceAttributes must be specified",
        kind="SubjectAccessReview",
        group="authorization.k8s.io",
    )


def status_of(decision: Decision) -> Obj:
    status: Obj = {"allowed": decision.allowed}
    if decision.verdict == "deny":
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _reply(kind: str, body: Obj, spec: Obj, status: Obj) -> Obj:
    md = copy.deepcopy(body.get("metadata") or {})
    md.setdefault("creationTimestamp", None)
    return {"kind": kind, "apiVersion": API_VERSION, "metadata": md, "spec": spec, "status": status}


def _spec(body: Obj) -> Obj:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise errors.BadRequest("spec: Required value")
    return spec


@answers("selfsubjectaccessreviews.authorization.k8s.io")
def self_subject_access_review(req: Request, body: Obj) -> Obj:
    spec = _spec(body)
    decision = authorizer_for(req.registry).authorize(attributes(req.user, spec))
    return _reply("SelfSubjectAccessReview", body, spec, status_of(decision))


@answers("subjectaccessreviews.authorization.k8s.io")
def subject_access_review(req: Request, body: Obj) -> Obj:
    spec = _spec(body)
    if not spec.get("user") and not spec.get("groups"):
        raise errors.Invalid(
            'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
            "at least one of user or group must be specified",
            kind="SubjectAccessReview",
            group="authorization.k8s.io",
        )
    extra = {str(k): tuple(str(x) for x in v or ()) for k, v in (spec.get("extra") or {}).items()}
    user = UserInfo(
        str(spec.get("user") or ""), str(spec.get("uid") or ""), tuple(spec.get("groups") or ()), extra
    )
    decision = authorizer_for(req.registry).authorize(attributes(user, spec))
    return _reply("SubjectAccessReview", body, spec, status_of(decision))


@answers("selfsubjectrulesreviews.authorization.k8s.io")
def self_subject_rules_review(req: Request, body: Obj) -> Obj:
    spec = _spec(body)
    namespace = str(spec.get("namespace") or "")
    rules = authorizer_for(req.registry).rbac.rules_for(req.user, namespace)
    resource_rules = [r.to_wire() for r in rules if not r.non_resource_urls]
    non_resource = [r.to_wire() for r in rules if r.non_resource_urls]
    status = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource,
        "incomplete": node_name(Attributes(req.user, "get")) is not None,  # the node authorizer lists none
    }
    return _reply("SelfSubjectRulesReview", body, spec, status)

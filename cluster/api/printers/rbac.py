"""Table columns of the RBAC kinds, as ``kubectl get`` shows them from kube-apiserver.

Roles and ClusterRoles: Name, Created At. Bindings: Name, Role (``ClusterRole/view``), Age; wide:
Users, Groups, ServiceAccounts (``namespace/name``).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def created_at(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def role_ref(obj: Obj) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def subjects(kind: str) -> Any:
    """The cell listing the binding's subjects of ``kind``, comma-separated."""

    def cell(obj: Obj) -> str:
        out = []
        for subject in obj.get("subjects") or ():
            if subject.get("kind") != kind:
                continue
            name = subject.get("name", "")
            out.append(f"{subject.get('namespace', '')}/{name}" if kind == "ServiceAccount" else name)
        return ", ".join(out)

    return cell

"""Creates answered without storing anything: reviews and ``serviceaccounts/{name}/token``.

A module that serves one registers a handler with :func:`answers`; the ``create`` verb looks it
up before it would write to the store. A handler gets the request (its ``user``, ``info``) and the
decoded body, and returns the object to send back with 201.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cluster.apiserver.handlers import Request

Obj = dict[str, Any]
Handler = Callable[["Request", Obj], Obj]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def answers(qualified: str, subresource: str = "") -> Callable[[Handler], Handler]:
    """Register the decorated function for creates of ``qualified`` (``selfsubjectaccessreviews.
    authorization.k8s.io``) or of its ``subresource`` (``serviceaccounts`` + ``token``)."""

    def register(fn: Handler) -> Handler:
        _HANDLERS[(qualified, subresource)] = fn
        return fn

    return register


def handler_for(qualified: str, subresource: str) -> Handler | None:
    return _HANDLERS.get((qualified, subresource))

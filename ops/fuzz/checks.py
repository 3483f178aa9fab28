"""The promises every reply keeps, whatever the request: no 5xx, and every 4xx is a ``Status``.

One known exception is tolerated but counted: gunicorn answers a request line over 4094 bytes (414)
or an oversized header (400/431) itself with an HTML page, before the API server sees the request
(check ``front-door``).
"""

from __future__ import annotations

import json
from typing import Any

from ops.fuzz.report import Failure


def status_problem(status: int, body: bytes) -> str:
    """Why ``body`` is not a proper Status for HTTP ``status`` (empty string when it is one)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"body is not JSON: {body[:120]!r}"
    if not isinstance(doc, dict):
        return f"body is not an object: {body[:120]!r}"
    if doc.get("kind") != "Status":
        return f"kind is {doc.get('kind')!r}, not 'Status'"
    if doc.get("code") != status:
        return f"code {doc.get('code')!r} differs from HTTP {status}"
    message = doc.get("message")
    if not isinstance(message, str) or not message:
        return "no message"
    return ""


def check_response(method: str, path: str, response: Any, reproduce: str = "") -> Failure | None:
    """A ``Failure`` when ``response`` (``requests`` or schemathesis ``Response``: ``status_code``,
    ``headers``, ``content``, ``text``) breaks a promise, else None. 2xx replies are not judged here."""
    status = response.status_code
    if status >= 500:
        return Failure("5xx", method, path, status, response.text[:500], reproduce)
    if status >= 400 and _front_door(response):
        return Failure("front-door", method, path, status, response.text[:200], reproduce)
    if status >= 400:
        problem = status_problem(status, response.content)
        if problem:
            return Failure("not-a-status", method, path, status, problem, reproduce)
    return None


def _front_door(response: Any) -> bool:
    """gunicorn's own refusal (request line or header too large) sent before the app runs: HTML."""
    return response.content.lstrip().startswith(b"<html>") and b"<title>" in response.content

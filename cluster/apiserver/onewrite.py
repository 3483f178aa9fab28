"""Send a response's headers and body in one write (gunicorn sends them in two).

Most API replies are small JSON bodies with a Content-Length; two ``sendall`` calls per reply
cost the API server about a tenth of its CPU under load. Streams (chunked watches) and bodiless
replies send their headers at once, as before.
"""

from __future__ import annotations

from typing import Any


def install() -> bool:
    """Patch gunicorn's ``Response`` in this process; False if this gunicorn lacks the hooks."""
    from gunicorn import util
    from gunicorn.http import wsgi

    response = wsgi.Response
    if getattr(response, "_kubeq_one_write", False):
        return True
    if not hasattr(response, "_emit_body") or not hasattr(response, "default_headers"):
        return False
    original_close = response.close

    def send_headers(self: Any) -> None:
        if self.headers_sent:
            return
        lines = self.default_headers()
        lines.extend("%s: %s\r\n" % (k, v) for k, v in self.headers)  # noqa: UP031 - latin-1 header text
        self._kubeq_held = util.to_bytestring("%s\r\n" % "".join(lines), "latin-1")  # noqa: UP031
        self.headers_sent = True
        if self.chunked or getattr(self, "_omits_body", False):
            flush(self)

    def flush(self: Any) -> None:
        held = getattr(self, "_kubeq_held", None)
        if held:
            self._kubeq_held = None
            util.write(self.sock, held)

    def emit_body(self: Any, data: bytes) -> None:
        held = getattr(self, "_kubeq_held", None)
        if held and not self.chunked:
            self._kubeq_held = None
            util.write(self.sock, held + data)
            return
        flush(self)
        util.write(self.sock, data, self.chunked)

    def close(self: Any) -> None:
        if self.headers_sent:
            flush(self)
        original_close(self)
        flush(self)

    response.send_headers = send_headers
    response._emit_body = emit_body
    response.close = close
    response._kubeq_one_write = True
    return True

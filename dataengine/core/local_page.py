"""The rule every page the project serves on this machine follows (the review page of prompt optimisation
today): only the person who was given its URL gets in.

A server on 127.0.0.1 is reachable from every other page open in the same browser. A foreign page can
send a "simple" cross-origin request (a form, or `fetch(..., {mode: "no-cors"})` with a text/plain body)
that no preflight stops, and a DNS-rebinding page can read the server under a host name of its own.
So every request must carry the session's secret token (in the `token` query parameter, as the printed
URL has it, or the `X-Dataengine-Token` header, as the page sends it) and name this server in its `Host`;
a POST must come from the page's own origin when it names one, with a JSON body, which a foreign page
can only send after a preflight that the server never grants. Jupyter's and TensorBoard's local servers
guard the same way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

TOKEN_HEADER = "X-Dataengine-Token"


@dataclass(frozen=True)
class PageGuard:
    """The admission rule of one server bound to `host`:`port`, with a fresh secret per session."""

    host: str
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def url(self) -> str:
        """The address to open: the page, with its token."""
        return f"http://{self.host}:{self.port}/?token={self.token}"

    @property
    def hosts(self) -> set[str]:
        return {f"{self.host}:{self.port}", f"localhost:{self.port}"}

    def refusal(self, method: str, path: str, headers) -> tuple[int, str] | None:
        """Why a request is refused, as (status, reason), or None when it is admitted."""
        if headers.get("Host") not in self.hosts:
            return 403, "unknown Host"
        given = parse_qs(urlsplit(path).query).get("token", [""])[0] or headers.get(TOKEN_HEADER, "")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return 403, "missing or wrong token"
        if method == "POST":
            origin = headers.get("Origin")
            if origin is not None and origin not in {f"http://{host}" for host in self.hosts}:
                return 403, "foreign Origin"
            if (headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
                return 415, "the body must be application/json"
        return None


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler that answers only what its server's `guard` admits; subclasses set `guard`."""

    guard: PageGuard

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    @property
    def route(self) -> str:
        """The request's path without its query."""
        return urlsplit(self.path).path

    def send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def admitted(self) -> bool:
        """True when the guard admits this request; otherwise the refusal is sent and nothing else happens."""
        refusal = self.guard.refusal(self.command, self.path, self.headers)
        if refusal is not None:
            status, reason = refusal
            self.send(status, reason.encode(), "text/plain; charset=utf-8")
        return refusal is None

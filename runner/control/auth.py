"""Who may do what on the control API: reading is open on loopback, acting needs the token, and
no web page on another site can act through a browser.

    request                       Unix socket            loopback TCP (token set)
    GET/HEAD (status, dashboard)  yes                    yes, when Host names loopback
    POST (stop, kill, resume...)  yes                    Authorization: Bearer <token>
    any, from another site        refused (403)          refused (403)
    POST with a form body         refused (415)          refused (415)

Why each rule:
- Whoever can open the socket file (0600) may trade, so it needs no token. TCP listens on
  loopback only, where any local user could connect: an action needs the token.
- Reads are open on loopback so that a browser's EventSource (which cannot send headers) can
  follow the dashboard. The Host must name loopback: a site that re-points its own domain at
  127.0.0.1 (DNS rebinding) sends its own domain as Host, and reads nothing.
- The token travels in a header, never a cookie, so a browser never attaches it on its own.
  On top of that, an action whose Origin is not this server's, or that the browser marks
  `Sec-Fetch-Site: cross-site`/`same-site`, is refused before the token is even looked at; and
  form content types (the only bodies another site can POST without a CORS preflight) are
  refused, so a guessed or leaked token is still not usable from an HTML form.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from loguru import logger

__all__ = ["LOOPBACK_HOSTS", "control_auth"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_READS = frozenset({"GET", "HEAD"})
# What an HTML form (or a no-preflight fetch) can send: a real client sends JSON or nothing.
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
_SAME_SITE_FETCHES = frozenset({"same-origin", "none"})     # none: typed in the address bar, a bookmark


def control_auth(token: str | None, error: Callable[..., web.Response]) -> Handler:
    """The middleware deciding who may do what (see the module docstring). `token` None means
    the Unix socket: no token is asked for. `error(status, message, headers=...)` builds the
    JSON error response."""
    expected = token.encode() if token else None

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = _cross_site_refusal(request)
        if refusal is not None:
            status, message = refusal
            logger.warning("Control request {} {} refused: {}", request.method, request.path, message)
            return error(status, message)
        if expected is not None:
            given = _bearer(request)
            reading = request.method in _READS
            if given is None and reading and _host_is_loopback(request):
                return await handler(request)
            # compare_digest: the time taken must not tell how much of a guessed token was right.
            if given is None or not hmac.compare_digest(given.encode(errors="replace"), expected):
                logger.warning("Control request {} {} refused: missing or wrong token", request.method, request.path)
                return error(401, "missing or wrong token: send Authorization: Bearer <BOTRUNNER_TOKEN>",
                             headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return check


def _cross_site_refusal(request: web.Request) -> tuple[int, str] | None:
    if request.method in _READS:
        return None
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in _SAME_SITE_FETCHES:
        return 403, f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return 403, f"cross-site request refused (Origin {origin} is not this server)"
    if request.content_type in _FORM_TYPES:
        return 415, f"{request.content_type} is not accepted; send application/json"
    return None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, given = header.partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def _host_is_loopback(request: web.Request) -> bool:
    host = request.host
    name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.rpartition(":")[0] or host
    return name in LOOPBACK_HOSTS

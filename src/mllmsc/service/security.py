"""Who may use the edge: a bearer token, compared in constant time; no token only on loopback.

* The token comes from a file (``--token-file F``) or the environment (:data:`TOKEN_ENV`); a
  missing, unreadable, empty or short one is a :class:`~mllmsc.errors.UserError` (one line, exit 2).
  At least :data:`MIN_TOKEN_CHARS` characters: anything shorter is guessable, and a lab that
  deploys this needs a real secret (``python -c 'import secrets; print(secrets.token_urlsafe(32))'``).
* ``--insecure`` (no token) is refused unless the server binds a loopback address: an open
  server on a network would let anyone spend its CPU.
* :class:`BearerAuth` answers 401 (with ``WWW-Authenticate: Bearer``) to any request outside
  :data:`PUBLIC_PATHS` whose ``Authorization`` header is not ``Bearer <token>``. The comparison is
  :func:`hmac.compare_digest` on bytes, so the time taken does not tell how much of a guess was
  right.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

from mllmsc.errors import UserError
from mllmsc.service.errors import ASGIApp, Receive, Scope, Send, send_error

#: The environment variable the server and the client read the token from (after --token-file).
TOKEN_ENV = "MLLMSC_TOKEN"
MIN_TOKEN_CHARS = 16

#: Paths anyone may read: the page and its files, liveness, the API schema, what the page needs to
#: draw its form (backend names, limits) and the bundled sample images (an <img> cannot send a
#: header). Nothing here runs a model.
PUBLIC_PATHS = ("/", "/healthz", "/openapi.json", "/v1/info")
PUBLIC_PREFIXES = ("/static/", "/v1/samples/")


def read_token(token_file: Path | None, *, env: dict[str, str] | None = None) -> str | None:
    """The token from ``token_file``, else from :data:`TOKEN_ENV`, else ``None``.

    Surrounding whitespace (a trailing newline) is dropped.

    Raises:
        UserError: the file is missing, unreadable, empty or holds fewer than
            :data:`MIN_TOKEN_CHARS` characters; the variable is set but too short.
    """
    env = os.environ if env is None else env
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise UserError(f"--token-file {token_file}: no such file") from None
        except IsADirectoryError:
            raise UserError(f"--token-file {token_file}: is a directory") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--token-file {token_file}: cannot read it ({exc.__class__.__name__})") from None
        source = f"--token-file {token_file}"
    elif env.get(TOKEN_ENV):
        token, source = env[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        return None
    if not token:
        raise UserError(f"{source}: the token is empty")
    if len(token) < MIN_TOKEN_CHARS:
        raise UserError(
            f"{source}: the token has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if any(c.isspace() for c in token) or not token.isprintable():
        raise UserError(f"{source}: the token must be one word of printable characters")
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) can only be reached from this machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_exposure(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve without a token, except with ``--insecure`` on a loopback address.

    Raises:
        UserError: no token and no ``--insecure``; ``--insecure`` on a non-loopback host;
            ``--insecure`` together with a token (ambiguous: which is meant?).
    """
    if insecure and token is not None:
        raise UserError(f"--insecure and a token ({TOKEN_ENV} or --token-file) exclude each other")
    if insecure and not is_loopback(host):
        raise UserError(
            f"--insecure is only allowed on a loopback host (127.0.0.1, ::1, localhost), not {host!r}: "
            "anyone on the network could use the server; give it a token with --token-file"
        )
    if not insecure and token is None:
        raise UserError(
            f"the edge needs a token: --token-file FILE or {TOKEN_ENV}=... "
            "(or --insecure on 127.0.0.1, for a demo on this machine only)"
        )


def bearer_matches(header: bytes | None, token: bytes) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <token>``, in constant time."""
    if header is None:
        return False
    scheme, _, given = header.partition(b" ")
    # compare_digest is constant-time in the length of its second argument; run it even when
    # the scheme is wrong so a probe learns nothing from the time taken.
    good = hmac.compare_digest(given.strip(), token)
    return good and scheme.lower() == b"bearer"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class BearerAuth:
    """ASGI middleware: 401 for a request outside the public paths without the right bearer token.

    Args:
        app: the application it guards.
        token: the secret; ``None`` lets everything through (``--insecure``, loopback only).
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = None if token is None else token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if not bearer_matches(header, self.token):
            reason = "missing bearer token" if header is None else "wrong bearer token"
            await send_error(send, 401, "unauthorized", reason, {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)


def check_edge_url(url: str) -> str:
    """The edge's base URL, checked (``http://`` or ``https://`` with a host), without a trailing ``/``.

    Raises:
        UserError: another scheme, no host, or a query or fragment.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--edge must be an http:// or https:// URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise UserError(f"--edge must be the server's base URL (no ?query or #fragment), got {url!r}")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise UserError(f"--edge has an invalid port: {url!r}") from None
    return url.strip().rstrip("/")

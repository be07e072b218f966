"""What the web app answers to a request it cannot serve as sent: 400 with the reason for a malformed body or URL,
aiohttp's own 413 over the body limit; a 500 only for our own faults, logged with the traceback. Every refusal is
logged at INFO with its reason. (web/params.py reads ids and dates from URLs the same way.)

Handlers read bodies through `form` and `json_body`, which turn a body that is not what it claims into
`BadRequest`; the middleware answers a `BadRequest` that no handler turned into its own format (Open311's, the
chat's JSON) as a plain 400, and catches a malformed body read by a handler that called aiohttp directly.
"""
from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.exc import DataError

from router.ticket_ids import shown

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=Mapping[str, Any])
# aiohttp.web_request.BaseRequest's methods that read and parse the body: an exception raised under one of them
# is the client's doing, not ours (its response streams, used by HTTP clients, are not looked at).
_WEB_REQUEST = Path(web.__file__).parent / "web_request.py"
_BODY_READERS = {"post", "json", "text", "read"}
SHOWN = 200  # characters of a client's input or an exception's words put into a reason
_OWN_FORMAT = "crophub_answers_bad_urls"  # set on a route handler that refuses a bad URL in its own format


class BadRequest(ValueError):
    """A request that cannot be served as sent; its message is the reason the client is given."""


def refused(request: web.Request, status: int, reason: str) -> None:
    """Log one refusal of `request` with its status and reason (the one line every refusal leaves)."""
    # Cut, control characters shown as "?": a client's %0A cannot forge a log line.
    log.info("web: %s %s refused with %d: %s", request.method, _path(request), status, shown(reason, SHOWN))


async def form(request: web.Request) -> MultiDictProxy[Any]:
    """The request's form (urlencoded or multipart); BadRequest when its body is not a well-formed one."""
    try:
        posted = await request.post()
    except web.HTTPException:  # 413 over the size limit: aiohttp's own answer, kept
        raise
    except Exception as exc:  # truncated, no boundary, bad part headers: aiohttp raises many plain kinds
        kind = "multipart form" if request.content_type == "multipart/form-data" else "form"
        raise BadRequest(f"the body is not a well-formed {kind}: {_words(exc)}") from exc
    return nul_free(posted)


def nul_free(fields: M) -> M:
    """`fields` as they are; BadRequest when a name or text value holds a NUL (PostgreSQL's text refuses it, and
    nothing a person types holds one)."""
    for key, value in fields.items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise BadRequest(f"field {shown(key, SHOWN)!r} holds a NUL character")
    return fields


async def json_body(request: web.Request) -> Any:
    """The request's body as JSON; BadRequest when it is not JSON (or not UTF-8)."""
    try:
        return await request.json()
    except web.HTTPException:
        raise
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise BadRequest(f"the body is not JSON: {_words(exc)}") from exc


def own_format(route: Handler) -> Handler:
    """Mark `route` as checking `url_problem` itself, to refuse in its own format (Open311's errors)."""
    setattr(route, _OWN_FORMAT, True)
    return route


def url_problem(request: web.Request) -> str | None:
    """Why the request's URL cannot be served (a NUL in its path or query), or None."""
    if "\x00" in request.path:
        return "NUL characters are not allowed in a URL's path"
    if any("\x00" in k or "\x00" in v for k, v in request.query.items()):
        return "NUL characters are not allowed in a URL's query"
    return None


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer bad requests with 4xx and the reason, and our own faults with a logged 500 without details."""
    problem = url_problem(request)
    if problem is not None and not getattr(request.match_info.handler, _OWN_FORMAT, False):
        refused(request, 400, problem)
        raise web.HTTPBadRequest(text=problem)
    try:
        return await handler(request)
    except BadRequest as exc:
        refused(request, 400, str(exc))
        raise web.HTTPBadRequest(text=str(exc)) from None
    except web.HTTPException as exc:
        if exc.status >= 400:
            refused(request, exc.status, exc.text or exc.reason)
        raise
    except DataError:
        # The database refused a value as data (a NUL in a form field, a number past bigint) where a handler did
        # not check it: the request's doing. Its words stay in the log (they name columns), with the traceback.
        log.warning("web: %s %s: the database refused a value", request.method, _path(request), exc_info=True)
        reason = "a value in this request cannot be stored or looked up (a NUL character, or a number too large)"
        refused(request, 400, reason)
        raise web.HTTPBadRequest(text=reason) from None
    except Exception as exc:
        if from_body(exc):
            reason = f"the body is not well-formed ({request.content_type}): {_words(exc)}"
            refused(request, 400, reason)
            raise web.HTTPBadRequest(text=reason) from None
        log.exception("web: %s %s failed", request.method, _path(request))
        raise web.HTTPInternalServerError(text="internal error; it has been logged") from None


def from_body(exc: BaseException) -> bool:
    """Whether `exc` was raised while aiohttp read or parsed the request's body (the client's fault)."""
    return any(Path(f.filename) == _WEB_REQUEST and f.name in _BODY_READERS
               for f in traceback.extract_tb(exc.__traceback__))


def _words(exc: BaseException) -> str:
    return shown(str(exc) or type(exc).__name__, SHOWN)


def _path(request: web.Request) -> str:
    return shown(request.path, SHOWN)

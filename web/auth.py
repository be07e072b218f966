"""Dashboard login: a form, a session cookie (HttpOnly, SameSite=Lax), and a CSRF token on every form.

Everything under /crop needs a live session: a browser without one is sent to /login. A POST there must
carry the session's CSRF token. Accounts are officers' logins (`crophub account add`).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from store import accounts
from store.models import Officer, WebAccount
from web.limits import Limiter
from web.public import render

log = logging.getLogger(__name__)

COOKIE = "crophub_session"
LOGIN_COOKIE = "crophub_login"  # the login form's own CSRF token (there is no session yet)
PROTECTED = "/crop"
# Failed logins allowed per 15 minutes, per username and per network address, before the form refuses
# every try (a right password too) until the window has passed: guessing stays slow.
FAILURES_PER_USER = 10
FAILURES_PER_ADDRESS = 30
FAILURE_WINDOW = 15 * 60


@dataclass(frozen=True)
class User:
    """Who is logged in, for this request."""

    account_id: int
    username: str
    officer_id: int
    officer_name: str
    role: str
    csrf: str


USER = web.RequestKey("user", User)


def setup(app: web.Application, sessions: sessionmaker[Session], lifetime: timedelta, secure_cookies: bool) -> None:
    """Add /login and /logout, and the middleware that guards /crop."""
    auth = _Auth(sessions, lifetime, secure_cookies)
    app.router.add_get("/login", auth.login_form)
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    app.middlewares.append(auth.middleware)


def user(request: web.Request) -> User:
    """The logged-in user of a /crop request (the middleware has checked there is one)."""
    return request[USER]


class _Auth:
    def __init__(self, sessions: sessionmaker[Session], lifetime: timedelta, secure: bool) -> None:
        self.sessions = sessions
        self.lifetime = lifetime
        self.secure = secure
        self.user_failures = Limiter(FAILURES_PER_USER, FAILURE_WINDOW)
        self.address_failures = Limiter(FAILURES_PER_ADDRESS, FAILURE_WINDOW)
        self.checks = asyncio.Semaphore(2)

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not (request.path == PROTECTED or request.path.startswith(PROTECTED + "/")):
            return await handler(request)
        found = await asyncio.to_thread(self._current, request.cookies.get(COOKIE, ""))
        if found is None:
            if request.method != "GET":
                raise web.HTTPForbidden(text="not logged in")
            raise web.HTTPFound(f"/login?next={_quote(request.path_qs)}")
        request[USER] = found
        if request.method == "POST":
            form = await request.post()
            if not hmac.compare_digest(str(form.get("csrf", "")), found.csrf):
                log.warning("web: a POST to %s by %s without its form token was refused", request.path, found.username)
                raise web.HTTPForbidden(text="the form has expired; reload the page and try again")
        response = await handler(request)
        response.headers.setdefault("Cache-Control", "no-store")  # officers' pages hold personal data
        return response

    async def login_form(self, request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
        token = secrets.token_urlsafe(24)
        response = render("login.html", csrf=token, next=_safe_next(request.query.get("next", "")), error=error)
        response.set_status(status)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=self.secure, path="/login")
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "-")):
            return await self.login_form(request, "Formulir kedaluwarsa; silakan coba lagi.", 403)
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        user_key, address = username.strip().lower()[:64], request.remote or "-"
        # Counted before the check, so guesses sent at once cannot all pass; a success is taken back.
        if not self.user_failures.allow(user_key):
            return await self._locked(request, user_key, address)
        if not self.address_failures.allow(address):
            self.user_failures.undo(user_key)
            return await self._locked(request, user_key, address)
        async with self.checks:  # argon2 takes ~64 MiB and a core for a moment: a few at a time
            started = await asyncio.to_thread(self._start, username, password)
        if started is not None:
            self.user_failures.undo(user_key)
            self.address_failures.undo(address)
        else:
            log.warning("web: failed login for %r from %s", user_key, address)
            return await self.login_form(request, "Nama pengguna atau kata sandi salah.", 401)
        response = web.HTTPFound(_safe_next(str(form.get("next", ""))) or PROTECTED)
        response.set_cookie(COOKIE, started, httponly=True, samesite="Lax", secure=self.secure, path="/",
                            max_age=int(self.lifetime.total_seconds()))
        response.del_cookie(LOGIN_COOKIE, path="/login")
        raise response

    async def _locked(self, request: web.Request, user_key: str, address: str) -> web.Response:
        log.warning("web: login for %r from %s refused: too many failed tries", user_key, address)
        response = await self.login_form(request, "Terlalu banyak percobaan gagal; coba lagi 15 menit lagi.", 429)
        response.headers["Retry-After"] = str(FAILURE_WINDOW)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(COOKIE, "")
        found = await asyncio.to_thread(self._current, token)
        form = await request.post()
        if found is not None and hmac.compare_digest(str(form.get("csrf", "")), found.csrf):
            await asyncio.to_thread(self._end, token)
        response = web.HTTPFound("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    def _current(self, token: str) -> User | None:
        with self.sessions() as session:
            found = accounts.current(session, token)
            return _user(*found) if found else None

    def _start(self, username: str, password: str) -> str | None:
        with self.sessions.begin() as session:
            account = accounts.verify(session, username, password)
            if account is None:
                return None
            token, _ = accounts.start(session, account, self.lifetime)
            log.info("web: %s logged in", account.username)
            return token

    def _end(self, token: str) -> None:
        with self.sessions.begin() as session:
            accounts.end(session, token)


def _user(account: WebAccount, officer: Officer, csrf: str) -> User:
    return User(account.id, account.username, officer.id, officer.name, officer.role, csrf)


def _safe_next(target: str) -> str:
    """Only a dashboard path: a login must not send anyone to another site."""
    return target if target.startswith(PROTECTED) and not target.startswith("//") and "\\" not in target else ""


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What every dashboard template gets: the user and their form token."""
    return {"user": user(request), **values}

"""Real mail servers on loopback for the email channel's tests: Dovecot (IMAP) and aiosmtpd (SMTP).

Dovecot runs from Debian's `dovecot-imapd` with a generated config in a temp dir: plaintext logins on
127.0.0.1, any user name with the server's one password (a static passdb: Dovecot re-reads a
passwd-file at most once a second, too slow for a fresh user per test), so each test takes a fresh
name and with it a fresh Maildir; and, when a
certificate is given, STARTTLS on the imap port plus an imaps port. Started as root it drops to the
`dovecot`/`dovenull` users and keeps mail as `nobody`; started as anyone else it runs as that user.
Mail "arrives" by IMAP APPEND from the stdlib imaplib, as a delivery agent would put it in the inbox.
"""
from __future__ import annotations

import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"
# The variable a mailbox's config names for its password (the `mailbox` fixture sets it): never the default
# name, so that no test turns the channel on by accident.
PASSWORD_ENV = "CROPHUB_TEST_IMAP_PASSWORD"
_users = itertools.count(1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def dovecot_binary() -> str | None:
    """The dovecot executable, also when /usr/sbin is not on PATH (a non-root shell)."""
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
                                            if os.access(p, os.X_OK)), None)


def make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 and localhost (cert.pem, key.pem), made with the openssl
    CLI; None when openssl is missing or fails."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
    except (subprocess.SubprocessError, OSError):
        return None
    return cert, key


@dataclass
class Mailbox:
    """One test user's inbox on the Dovecot server."""

    server: "Dovecot"
    user: str
    password: str

    def config(self, address: str = "pengaduan@jakarta.go.id", security: str = "none", **imap: Any) -> dict[str, Any]:
        """An email config dict (as EmailSettings.sender_config() gives) for this mailbox; its password is in the
        variable PASSWORD_ENV names."""
        port = self.server.imaps_port if security == "ssl" else self.server.port
        section = {"host": HOST, "port": port, "security": security, "username": self.user,
                   "password_env": PASSWORD_ENV, "mailbox": "INBOX", "idle": True, "poll_interval": 60,
                   "idle_timeout": 1740, "timeout": 10}
        if self.server.certificate:
            section["cafile"] = str(self.server.certificate[0])
        section.update(imap)
        return {"address": address, "display_name": "Pengaduan Warga Jakarta", "imap": section,
                "smtp": {"host": None}, "max_attachment_bytes": 5_000_000, "max_message_bytes": 25_000_000}

    def _login(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(HOST, self.server.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def append(self, source: bytes, seen: bool = False) -> None:
        """Put a mail in the inbox (imaplib turns bare LF line ends into CRLF)."""
        conn = self._login()
        try:
            typ, data = conn.append("INBOX", r"(\Seen)" if seen else None, None, source)
            assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self) -> dict[str, set[str]]:
        """Message-ID (or "uid:<n>" when it has none) → the mail's flags, for every mail in the inbox."""
        conn = self._login()
        try:
            conn.select("INBOX")
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            result: dict[str, set[str]] = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta, header = item[0].decode(), item[1].decode("utf-8", "replace")
                uid = re.search(r"UID (\d+)", meta)
                flags = re.search(r"FLAGS \(([^)]*)\)", meta)
                found = re.search(r"<[^>]+>", header)
                name = found.group(0) if found else f"uid:{uid.group(1) if uid else '?'}"
                result[name] = set(flags.group(1).split()) if flags else set()
            return result
        finally:
            conn.logout()

    def unseen(self) -> list[str]:
        """Message-IDs of the mails not flagged \\Seen."""
        return sorted(k for k, f in self.flags().items() if "\\Seen" not in f)


class Dovecot:
    """A Dovecot IMAP server in a temp dir, on free ports of 127.0.0.1, for one test session."""

    def __init__(self, binary: str, certificate: tuple[Path, Path] | None = None) -> None:
        self.binary = binary
        self.certificate = certificate
        # Not under pytest's tmp dir: that is private to its owner, and Dovecot's unprivileged
        # processes must reach the mail and runtime dirs.
        self.root = Path(tempfile.mkdtemp(prefix="crophub-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.imaps_port = free_port() if certificate else 0
        self.password = "rahasia-" + os.urandom(6).hex()
        self.log = self.root / "dovecot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _users(self) -> tuple[str, str, int, int]:
        """(internal user, login user, mail uid, mail gid): unprivileged ones when we run as root."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            internal = "dovecot" if _exists("dovecot") else "nobody"
            login = "dovenull" if _exists("dovenull") else "nobody"
            return internal, login, nobody.pw_uid, nobody.pw_gid
        me = pwd.getpwuid(os.getuid()).pw_name
        return me, me, os.getuid(), os.getgid()

    def config(self) -> str:
        """The dovecot.conf text."""
        internal, login, uid, gid = self._users()
        ssl_lines = "ssl = no\n"
        imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        if self.certificate:
            cert, key = self.certificate
            ssl_lines = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
            imaps = f"  inet_listener imaps {{\n    address = {HOST}\n    port = {self.imaps_port}\n    ssl = yes\n  }}\n"
        return (
            f"instance_name = crophub-test-{self.port}\n"
            f"base_dir = {self.root}/run\n"
            f"state_dir = {self.root}/state\n"
            f"log_path = {self.log}\n"
            "protocols = imap\n"
            f"listen = {HOST}\n"
            + ssl_lines +
            "disable_plaintext_auth = no\n"
            "auth_mechanisms = plain login\n"
            # A refused login answers at once. (Dovecot's per-IP penalty still delays the logins after a
            # failed one from 127.0.0.1 by seconds: tests should not fail logins.)
            "auth_failure_delay = 0\n"
            f"default_internal_user = {internal}\n"
            f"default_internal_group = {_group_of(internal)}\n"
            f"default_login_user = {login}\n"
            "first_valid_uid = 1\n"
            "first_valid_gid = 1\n"
            "mail_location = maildir:~/Maildir\n"
            # Tell an idling client of new mail at once (inotify does; this is the fallback).
            "mailbox_idle_check_interval = 1 secs\n"
            "passdb {\n  driver = static\n"
            f"  args = password={self.password}\n}}\n"
            "userdb {\n  driver = static\n"
            f"  args = uid={uid} gid={gid} home={self.root}/home/%u\n}}\n"
            "service imap-login {\n"
            f"  inet_listener imap {{\n    address = {HOST}\n    port = {self.port}\n  }}\n"
            + imaps +
            "}\n"
        )

    def start(self, timeout: float = 15.0) -> "Dovecot":
        """Write the config, start `dovecot -F`, and wait until the imap port greets."""
        _, _, uid, gid = self._users()
        home = self.root / "home"
        home.mkdir()
        if os.geteuid() == 0:
            os.chown(home, uid, gid)  # the mail user creates each test user's Maildir in it
        conf = self.root / "dovecot.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen([self.binary, "-F", "-c", str(conf)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = self.process.stdout.read().decode("utf-8", "replace") if self.process.stdout else ""
                raise RuntimeError(f"dovecot exited with {self.process.returncode}: {out}{self.log_text()}")
            if _greets(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on {HOST}:{self.port} within {timeout}s: {self.log_text()}")

    def log_text(self) -> str:
        """Dovecot's log so far (for failure messages)."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def mailbox(self) -> Mailbox:
        """A new user name, so an empty inbox (Dovecot creates the Maildir at first login)."""
        return Mailbox(self, f"warga{next(_users)}", self.password)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def _group_of(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def _greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as s:
            return s.recv(64).startswith(b"* OK")
    except OSError:
        return False


# --- SMTP ---------------------------------------------------------------------------------------------

@dataclass
class Received:
    """One mail the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    data: bytes
    tls: bool
    login: str | None


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → SMTP reply, e.g. "550 5.1.1 no such user"
    data_reply: str | None = None  # answer DATA with this instead of accepting

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        data = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(data)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        tls = server.transport.get_extra_info("ssl_object") is not None  # STARTTLS or SMTPS
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, data,  # type: ignore[arg-type]
                                      tls, login))
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1:<free port> in its own thread: plain, STARTTLS or SMTPS, with optional AUTH."""

    def __init__(self, security: str = "none", certificate: tuple[Path, Path] | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.security = security
        self.port = free_port()
        self.handler = _Handler()
        self.users = users or {}
        context = None
        if security != "none":
            assert certificate, "TLS needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, certificate))
        kwargs: dict[str, Any] = {}
        if self.users:
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; SMTPS is TLS from the first byte.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=security == "starttls")
        if security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(self.handler, hostname=HOST, port=self.port,
                                     ssl_context=context if security == "ssl" else None,
                                     server_hostname="localhost", **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.users.get(auth_data.login.decode()) == auth_data.password.decode():
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    @property
    def received(self) -> list[Received]:
        """Mails accepted so far."""
        return self.handler.received

    def config(self, address: str = "pengaduan@jakarta.go.id", certificate: tuple[Path, Path] | None = None,
               **smtp: Any) -> dict[str, Any]:
        """An email config dict whose smtp section points here."""
        section: dict[str, Any] = {"host": HOST, "port": self.port, "security": self.security, "username": None,
                                   "password_env": "CROPHUB_TEST_NO_SUCH_ENV", "timeout": 5}
        if certificate:
            section["cafile"] = str(certificate[0])
        section.update(smtp)
        return {"address": address, "display_name": "Pengaduan Warga Jakarta", "smtp": section,
                "imap": {"host": None}, "max_attachment_bytes": 5_000_000, "max_message_bytes": 25_000_000}

    def start(self) -> "SmtpServer":
        """Start serving (returns once the port accepts)."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.controller.stop()

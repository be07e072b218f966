"""Send replies over SMTP, threaded under the citizen's mail, built from the email config section alone."""
from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.headerregistry import Address as MailAddress
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from bots.base import coerce
from bots.email.config import EmailSettings, domain_of, password, tls_context
from bots.errors import PermanentError, TransientError
from ingest.message import Address

_TICKET = re.compile(r"\b[A-Z]{2,8}-\d{4}-\d{6,}\b")  # any tickets.prefix
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_REPLY = re.compile(r"^\s*(?:re|aw|sv|antw|bls|balas)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_ADDRESS = re.compile(r"[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+")
# Subjects of a reply to a mail that had none: the ticket it is about, when the text names one.
_SUBJECT = {"id": ("Laporan {ticket}", "Pengaduan Warga Jakarta"), "en": ("Report {ticket}", "Jakarta citizen reports")}


def subject_for(address: Address, text: str, language: str) -> str:
    """"Re: <their subject>" (not "Re: Re:"), or one naming the ticket the text is about."""
    subject = re.sub(r"\s+", " ", address.subject or "").strip()
    if subject:
        return subject if _REPLY.match(subject) else f"Re: {subject}"
    with_ticket, plain = _SUBJECT["en" if language == "en" else "id"]
    ticket = _TICKET.search(text)
    return with_ticket.format(ticket=ticket.group(0)) if ticket else plain


def html_body(text: str, language: str) -> str:
    """The text as a small HTML page: escaped, line breaks kept, links clickable."""
    lines = []
    for line in text.split("\n"):
        escaped, last = [], 0
        for url in _URL.finditer(line):
            escaped.append(html.escape(line[last:url.start()]))
            href = html.escape(url.group(0), quote=True)
            escaped.append(f'<a href="{href}">{href}</a>')
            last = url.end()
        escaped.append(html.escape(line[last:]))
        lines.append("".join(escaped))
    body = "<br>\n".join(lines)
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8"></head>'
            f'<body><div style="font-family: Arial, sans-serif; font-size: 14px; line-height: 1.5">\n{body}\n'
            "</div></body></html>\n")


class EmailSender:
    """Sends replies over SMTP; maps SMTP failures to the channel-neutral errors in bots.errors."""

    def __init__(self, config: Mapping[str, Any] | EmailSettings) -> None:
        # A sender is built from sender_config(), which fills smtp.username from imap.username: a section given
        # as it is goes through it too, so both ways build the same sender.
        self.settings = coerce(EmailSettings, config.sender_config() if isinstance(config, EmailSettings) else config)
        self.address = self.settings.address
        self.display_name = self.settings.display_name
        self.smtp = self.settings.smtp
        self.domain = domain_of(self.address) or "localhost"

    def compose(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> EmailMessage:
        """The reply as a MIME message (text/plain with a text/html alternative), threaded under address.reply_to."""
        extras = extras or {}
        if not self.address:
            raise PermanentError("email: no sending address (set email.address)")
        recipient = (address.chat_id or "").strip()
        if not _ADDRESS.fullmatch(recipient):
            raise PermanentError(f"email: not a mail address: {recipient!r}")
        language = "en" if extras.get("language") == "en" else "id"
        msg = EmailMessage()
        user, _, domain = self.address.rpartition("@")
        msg["From"] = MailAddress(self.display_name, user, domain)
        msg["To"] = recipient
        msg["Subject"] = subject_for(address, text, language)
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = make_msgid(domain=self.domain)
        if address.reply_to:
            msg["In-Reply-To"] = address.reply_to
            references = (address.references or "").split()
            if address.reply_to not in references:
                references.append(address.reply_to)
            msg["References"] = " ".join(references)
        # RFC 3834: an automatic answer, so citizens' autoresponders stay quiet (and Exchange's too).
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(text)
        msg.add_alternative(html_body(text, language), subtype="html")
        msg["Content-Language"] = language  # after the parts: set_content() drops every Content-* header
        return msg

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Send `text` to the mail address in `address` as a reply to its mail; return our Message-ID.

        extras["language"] picks the Content-Language; a Telegram photo id in extras is ignored, and
        buttons arrive already written into the text as a numbered menu. A mail cannot lose buttons nor answer
        a press: clear_buttons and toast are ignored, and a row with no text (one that only carried them)
        sends no mail and returns ""."""
        if not text.strip():
            return ""
        msg = self.compose(address, text, extras)
        host, security = self.smtp.host, self.smtp.security
        if not host:
            raise PermanentError("email: no SMTP server (set email.smtp.host)")
        username = self.smtp.username or None
        secret = password(self.smtp) if username else None
        if username and not secret:
            raise PermanentError(f"email: no SMTP password (set {self.smtp.password_env})")
        try:
            await aiosmtplib.send(
                msg, sender=self.address, recipients=[msg["To"]],
                hostname=host, port=self.smtp.port,
                username=username, password=secret,
                use_tls=security == "ssl", start_tls=security == "starttls",
                tls_context=tls_context(self.smtp), timeout=self.smtp.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise _by_code(min(codes) if codes else 550, f"recipient refused: {exc.recipients}") from exc
        except aiosmtplib.SMTPResponseException as exc:  # a reply code: 4xx try again, 5xx never
            raise _by_code(exc.code, f"{type(exc).__name__}: {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. STARTTLS or AUTH not offered: the config is wrong
            raise PermanentError(f"email: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:  # connection refused, reset, timed out
            raise TransientError(f"email: {type(exc).__name__}: {exc}") from exc
        return str(msg["Message-ID"])


def _by_code(code: int, detail: str) -> PermanentError | TransientError:
    return (PermanentError if code >= 500 else TransientError)(f"email: SMTP {detail}")

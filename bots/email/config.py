"""The `email:` section of config.yaml (the complaint inbox), and what the IMAP reader and the SMTP sender both
read from it: secrets and TLS."""
from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bots.base import ChannelSettings


class ImapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = Field(993, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str | None = None
    password_env: str = "CROPHUB_EMAIL_PASSWORD"
    mailbox: str = "INBOX"
    idle: bool = True  # IMAP IDLE when the server offers it; polling otherwise
    poll_interval: float = Field(60.0, ge=1)
    idle_timeout: float = Field(29 * 60, ge=10, le=29 * 60)  # RFC 2177: re-issue IDLE within 29 minutes
    timeout: float = Field(30.0, gt=0)
    batch_size: int = Field(50, ge=1, le=1000)
    batch_bytes: int = Field(25_000_000, ge=1_000_000)
    cafile: Path | None = None


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None  # default: imap.username
    password_env: str = "CROPHUB_EMAIL_PASSWORD"
    timeout: float = Field(30.0, gt=0)
    cafile: Path | None = None


class EmailSettings(ChannelSettings):
    # The complaint inbox: on when address and imap.host are set.
    address: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    display_name: str = "Pengaduan Warga Jakarta"
    imap: ImapSettings = ImapSettings()
    smtp: SmtpSettings = SmtpSettings()
    max_attachment_bytes: int = Field(5_000_000, ge=1)
    max_message_bytes: int = Field(25_000_000, ge=1)

    def status(self) -> str | None:
        """None when the inbox can be read; otherwise the line that says it is off and how to turn it on."""
        if not self.address or not self.imap.host:
            return "email: channel off: set email.address and email.imap.host (and smtp.host for replies) to turn it on"
        if not password(self.imap):
            # The reader always logs in (as imap.username, or as the address): without a password it never could.
            return f"email: channel off: no IMAP password. To turn it on, export {self.imap.password_env}=<password>"
        return None

    def warnings(self) -> list[str]:
        """The inbox can be read without an SMTP server; replies cannot be sent."""
        return [] if self.smtp.host else ["email: the inbox is read, but replies cannot be sent until email.smtp.host is set"]

    def sender_config(self) -> dict[str, Any]:
        """The plain data an email sender or reader is built from (names of env vars, not secrets)."""
        data = self.model_dump(mode="json")
        data["smtp"]["username"] = self.smtp.username or self.imap.username
        return data


def password(section: ImapSettings | SmtpSettings) -> str | None:
    """The password of an imap or smtp section, from the environment variable its password_env names."""
    return os.environ.get(section.password_env) or None


def tls_context(section: ImapSettings | SmtpSettings) -> ssl.SSLContext | None:
    """A verifying client TLS context when the section's security is ssl or starttls, else None.

    An optional `cafile` trusts a private CA (a server with a self-signed certificate, as in tests)."""
    if section.security == "none":
        return None
    return ssl.create_default_context(cafile=str(section.cafile) if section.cafile else None)


def domain_of(address: str | None) -> str | None:
    """The domain part of an address, for our Message-IDs."""
    return address.rsplit("@", 1)[1].lower() if address and "@" in address else None

"""What the IMAP reader and the SMTP sender both read from the email config dict: secrets and TLS."""
from __future__ import annotations

import os
import ssl
from typing import Any


def password(section: dict[str, Any]) -> str | None:
    """The password of an imap/smtp section: a direct `password` key (tests), else the env var it names."""
    if section.get("password"):
        return str(section["password"])
    env = section.get("password_env") or "CROPHUB_EMAIL_PASSWORD"
    return os.environ.get(env) or None


def tls_context(section: dict[str, Any]) -> ssl.SSLContext | None:
    """A verifying client TLS context when the section's security is ssl or starttls, else None.

    An optional `cafile` key trusts a private CA (a server with a self-signed certificate, as in tests)."""
    if section.get("security", "ssl") == "none":
        return None
    return ssl.create_default_context(cafile=section.get("cafile") or None)


def domain_of(address: str | None) -> str | None:
    """The domain part of an address, for our Message-IDs."""
    return address.rsplit("@", 1)[1].lower() if address and "@" in address else None

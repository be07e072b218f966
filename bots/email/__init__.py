"""Email: parse RFC 5322 mail from an IMAP inbox, send threaded replies over SMTP."""

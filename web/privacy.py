"""What of a citizen's text may be shown publicly: the report, without the personal data people type into it
(the masking lives in store.privacy, which the stored training examples share)."""
from __future__ import annotations

from store.privacy import redact

__all__ = ["redact"]

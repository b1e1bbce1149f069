"""URL slugs: lower-case ASCII words joined by hyphens, made unique with a short suffix."""

from __future__ import annotations

import re
import secrets
import unicodedata

_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_WORD.sub("-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "item"


def with_suffix(slug: str) -> str:
    return f"{slug}-{secrets.token_hex(3)}"

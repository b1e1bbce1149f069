"""User-supplied HTML through an allowlist (nh3, the Rust ammonia sanitizer): what is not explicitly
allowed is removed, so scripts, event handlers and javascript: URLs never reach a page."""

from __future__ import annotations

import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "th": {"scope"},
}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


def clean_html(html: str) -> str:
    """Rich text as the content pages show it: allowed tags kept, everything else stripped."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(html: str) -> str:
    """No markup at all (names, bios): tags removed, text kept."""
    return nh3.clean(html, tags=set(), attributes={}).strip()

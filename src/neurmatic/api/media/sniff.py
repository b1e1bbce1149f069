"""What a file *is*, from its first bytes: the client's Content-Type header is never trusted."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# (magic prefix, offset, content type)
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
)
ALLOWED = {"image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf"}
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/pdf": "pdf",
}
HEAD_BYTES = 16


def sniff(head: bytes) -> str | None:
    """The content type the bytes declare, or None when they are none of the allowed kinds."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, offset, content_type in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return content_type
    return None


@dataclass(frozen=True)
class ImageSize:
    width: int
    height: int


def image_size(data: bytes) -> ImageSize | None:
    """Width and height of an image that Pillow can fully parse; None for a broken or fake image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return ImageSize(width, height)

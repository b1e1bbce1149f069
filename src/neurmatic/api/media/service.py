"""Accepting a file: size limit while reading, type by sniffing, images parsed for their size."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from fastapi import UploadFile

from neurmatic.api.media.sniff import ALLOWED, EXTENSIONS, HEAD_BYTES, image_size, sniff
from neurmatic.api.media.storage import LocalStorage, MediaStorage, S3Storage
from neurmatic.domain.media.models import MediaFile
from neurmatic.errors import PayloadTooLarge, ValidationFailed
from neurmatic.settings import Settings

CHUNK = 256 * 1024
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def media_storage(settings: Settings) -> MediaStorage:
    if settings.media.storage == "s3":
        return S3Storage(settings.aws)
    return LocalStorage(settings.media.local_dir)


def safe_filename(name: str | None, content_type: str) -> str:
    stem = _UNSAFE_NAME.sub("_", (name or "file").rsplit("/", 1)[-1]).strip("._")[:100] or "file"
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return f"{stem}.{EXTENSIONS[content_type]}"


async def read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """The whole file, refusing (413) as soon as it passes ``max_bytes``."""
    chunks, total = [], 0
    while chunk := await upload.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Inspected:
    content_type: str
    width: int | None
    height: int | None
    sha256: str


def inspect(data: bytes) -> Inspected:
    """Refuse anything that is not, by its own bytes, one of the allowed kinds (or a broken image)."""
    if not data:
        raise ValidationFailed("the file is empty", details=[{"field": "file", "message": "empty"}])
    content_type = sniff(data[:HEAD_BYTES])
    if content_type not in ALLOWED:
        raise ValidationFailed(
            "unsupported file type: upload a JPEG, PNG, WebP, GIF or PDF",
            details=[{"field": "file", "message": "unsupported type"}],
        )
    size = None
    if content_type.startswith("image/"):
        size = image_size(data)
        if size is None:
            raise ValidationFailed(
                "the image is damaged or not what it claims to be",
                details=[{"field": "file", "message": "unreadable image"}],
            )
    return Inspected(
        content_type,
        size.width if size else None,
        size.height if size else None,
        hashlib.sha256(data).hexdigest(),
    )


def new_key(owner_id: uuid.UUID, content_type: str) -> str:
    return f"media/{owner_id}/{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"


def record(
    owner_id: uuid.UUID, storage: MediaStorage, key: str, data: bytes, found: Inspected, filename: str
) -> MediaFile:
    return MediaFile(
        owner_id=owner_id,
        storage=storage.name,
        key=key,
        content_type=found.content_type,
        size=len(data),
        width=found.width,
        height=found.height,
        sha256=found.sha256,
        filename=filename,
        status="ready",
    )

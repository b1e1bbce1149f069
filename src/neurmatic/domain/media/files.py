"""The media files' rows: stored, found, finished, removed. The bytes are the storage's business."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.domain.media.models import MediaFile
from neurmatic.errors import Forbidden, NotFound


async def save(db: AsyncSession, media: MediaFile) -> MediaFile:
    """Commit a new or changed file row and return it as stored (defaults and timestamps filled)."""
    db.add(media)
    await db.commit()
    await db.refresh(media)
    return media


async def ready_file(db: AsyncSession, media_id: uuid.UUID) -> MediaFile:
    """A file that finished uploading; NotFound for any other (pending, failed, absent)."""
    media = await db.get(MediaFile, media_id)
    if media is None or media.status != "ready":
        raise NotFound("no such file")
    return media


async def pending_upload(db: AsyncSession, media_id: uuid.UUID, owner_id: uuid.UUID) -> MediaFile:
    """A direct upload its owner is finishing; NotFound or Forbidden otherwise."""
    media = await db.get(MediaFile, media_id)
    if media is None or media.status != "pending":
        raise NotFound("no such upload in progress")
    if media.owner_id != owner_id:
        raise Forbidden("this upload belongs to someone else")
    return media


async def remove(db: AsyncSession, media: MediaFile) -> None:
    await db.delete(media)
    await db.commit()

"""/api/v1/media: upload (multipart, or direct to S3 with a presigned form), metadata, download."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from neurmatic.api.deps import CurrentUser, DbSession
from neurmatic.api.media import service
from neurmatic.api.media.sniff import ALLOWED, EXTENSIONS
from neurmatic.api.media.storage import MediaStorage, S3Storage
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.media import files
from neurmatic.domain.media.models import MediaFile
from neurmatic.domain.users.models import Role
from neurmatic.edge_policy import MICROCACHE_SECONDS
from neurmatic.errors import Conflict, Forbidden, ValidationFailed

router = APIRouter(prefix="/media", tags=["media"])


def _storage(request: Request) -> MediaStorage:
    storage: MediaStorage | None = getattr(request.app.state, "media_storage", None)
    if storage is None:
        storage = request.app.state.media_storage = service.media_storage(request.app.state.settings)
    return storage


async def _out(media: MediaFile, storage: MediaStorage) -> dict[str, Any]:
    url = await storage.download_url(media.key, media.filename) or f"/api/v1/media/{media.id}/content"
    return {
        "id": str(media.id),
        "contentType": media.content_type,
        "size": media.size,
        "width": media.width,
        "height": media.height,
        "sha256": media.sha256,
        "filename": media.filename,
        "status": media.status,
        "storage": media.storage,
        "url": url,
        "createdAt": media.created_at.isoformat(),
    }


@router.post(
    "",
    status_code=201,
    summary="Upload a file (JPEG, PNG, WebP, GIF or PDF; 10 MB by default)",
    responses=error_responses(401, 413, 422, 429, 503),
)
async def upload(
    request: Request,
    principal: CurrentUser,
    db: DbSession,
    file: Annotated[UploadFile, File(description="The file; its type is decided by its bytes")],
) -> JSONResponse:
    data = await service.read_limited(file, request.app.state.settings.media.max_bytes)
    found = service.inspect(data)
    storage = _storage(request)
    key = service.new_key(principal.user.id, found.content_type)
    await storage.put(key, data, found.content_type)
    media = service.record(
        principal.user.id, storage, key, data, found, service.safe_filename(file.filename, found.content_type)
    )
    media = await files.save(db, media)
    return success(await _out(media, storage), status_code=201)


@router.get("/{media_id:uuid}", summary="A file's metadata and download URL", responses=error_responses(404))
async def metadata(media_id: uuid.UUID, request: Request, db: DbSession) -> JSONResponse:
    return success(await _out(await files.ready_file(db, media_id), _storage(request)))


@router.get(
    "/{media_id:uuid}/content", summary="The file itself (local storage)", responses=error_responses(404)
)
async def content(media_id: uuid.UUID, request: Request, db: DbSession) -> Response:
    media = await files.ready_file(db, media_id)
    data = await _storage(request).get(media.key)
    disposition = "inline" if media.content_type.startswith("image/") else "attachment"
    return Response(
        data,
        media_type=media.content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{media.filename}"',
            # Never longer than the edge's microcache: a deleted file must stop being served by then
            # (nginx cannot be purged, and it honours max-age over its own lifetime).
            "Cache-Control": f"public, max-age={MICROCACHE_SECONDS}",
        },
    )


@router.delete(
    "/{media_id:uuid}",
    summary="Delete a file (its owner or an admin)",
    responses=error_responses(401, 403, 404),
)
async def delete(
    media_id: uuid.UUID, request: Request, principal: CurrentUser, db: DbSession
) -> JSONResponse:
    media = await files.ready_file(db, media_id)
    if media.owner_id != principal.user.id and principal.user.role is not Role.ADMIN:
        raise Forbidden("only the owner or an administrator may delete this file")
    await _storage(request).delete(media.key)
    await files.remove(db, media)
    return success({"deleted": str(media_id)})


@router.post(
    "/uploads",
    status_code=201,
    summary="Start a direct upload to S3 (a presigned form)",
    responses=error_responses(401, 409, 422),
)
async def start_direct_upload(
    request: Request, principal: CurrentUser, db: DbSession, content_type: str = "image/jpeg"
) -> JSONResponse:
    storage = _storage(request)
    if not isinstance(storage, S3Storage):
        raise Conflict("direct uploads need MEDIA_STORAGE=s3; upload through POST /api/v1/media")
    if content_type not in ALLOWED:
        raise ValidationFailed(
            "unsupported file type", details=[{"field": "contentType", "message": "not allowed"}]
        )
    key = service.new_key(principal.user.id, content_type)
    media = MediaFile(
        owner_id=principal.user.id,
        storage=storage.name,
        key=key,
        content_type=content_type,
        size=0,
        filename=f"upload.{EXTENSIONS[content_type]}",
        status="pending",
    )
    media = await files.save(db, media)
    form = await storage.upload_form(key, content_type, request.app.state.settings.media.max_bytes)
    return success({"mediaId": str(media.id), "upload": form}, status_code=201)


@router.post(
    "/{media_id:uuid}/complete",
    summary="Finish a direct upload: the object is checked like any upload",
    responses=error_responses(401, 403, 404, 422),
)
async def complete_direct_upload(
    media_id: uuid.UUID, request: Request, principal: CurrentUser, db: DbSession
) -> JSONResponse:
    media = await files.pending_upload(db, media_id, principal.user.id)
    storage = _storage(request)
    data = await storage.get(media.key)
    try:
        found = service.inspect(data)
    except ValidationFailed:
        await storage.delete(media.key)  # never keep bytes that failed the checks
        await files.remove(db, media)
        raise
    media.content_type, media.size, media.width, media.height = (
        found.content_type,
        len(data),
        found.width,
        found.height,
    )
    media.sha256, media.status = found.sha256, "ready"
    media = await files.save(db, media)
    return success(await _out(media, storage))

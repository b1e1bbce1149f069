"""/api/v1/users/me: the signed-in user's profile and sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from neurmatic.api.auth.presenters import user_out
from neurmatic.api.auth.schemas import Body
from neurmatic.api.deps import Clients, CurrentUser, DbSession
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.errors import NotFound

router = APIRouter(prefix="/users", tags=["users"])


class ProfileUpdate(Body):
    display_name: str | None = Field(None, max_length=100)
    bio: str | None = Field(None, max_length=2000, description="Plain text; HTML is stripped")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@router.get("/me", summary="The signed-in user", responses=error_responses(401))
async def me(principal: CurrentUser) -> JSONResponse:
    return success(user_out(principal.user).model_dump(by_alias=True))


@router.patch("/me", summary="Update the profile", responses=error_responses(401, 403, 422))
async def update_me(body: ProfileUpdate, principal: CurrentUser, db: DbSession) -> JSONResponse:
    from neurmatic.domain.sanitize import plain_text

    user = await db.merge(principal.user)
    changes = body.model_dump(exclude_unset=True)
    if "display_name" in changes:
        user.display_name = plain_text(changes["display_name"]) if changes["display_name"] else None
    if "bio" in changes:
        user.bio = plain_text(changes["bio"]) if changes["bio"] else None
    await db.commit()
    await db.refresh(user)
    return success(user_out(user).model_dump(by_alias=True))


@router.get(
    "/me/sessions",
    summary="Every signed-in device: IP, device, created, last active",
    responses=error_responses(401),
)
async def sessions(principal: CurrentUser, clients: Clients) -> JSONResponse:
    listed = await clients.sessions.list_for_user(str(principal.user.id))
    return success(
        [
            {
                "id": s.id,
                "device": s.device,
                "userAgent": s.user_agent,
                "ip": s.ip,
                "createdAt": _when(s.created_at),
                "lastActiveAt": _when(s.last_active_at),
                "current": s.id == principal.session_id,
            }
            for s in listed
        ]
    )


@router.delete(
    "/me/sessions/{session_id}", summary="Sign out one device", responses=error_responses(401, 403, 404)
)
async def end_session(session_id: str, principal: CurrentUser, clients: Clients) -> JSONResponse:
    if not await clients.sessions.revoke(session_id, str(principal.user.id)):
        raise NotFound("no such session")
    return success({"revoked": session_id})

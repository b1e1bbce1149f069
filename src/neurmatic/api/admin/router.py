"""/api/v1/admin/users: list accounts, change a role or a status (which ends the user's sessions)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from neurmatic.api.auth.presenters import user_out
from neurmatic.api.auth.schemas import Body
from neurmatic.api.deps import AdminUser, Clients, DbSession
from neurmatic.api.pagination import Page
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.users.models import Role, Status, User
from neurmatic.errors import NotFound, ValidationFailed

router = APIRouter(prefix="/admin/users", tags=["admin"])


class UserAdminUpdate(Body):
    role: Role | None = None
    status: Status | None = None


@router.get("", summary="Accounts, newest first", responses=error_responses(401, 403))
async def list_users(_admin: AdminUser, db: DbSession, paging: Page) -> JSONResponse:
    total = await db.scalar(select(func.count()).select_from(User)) or 0
    users = (
        await db.scalars(
            select(User).order_by(User.created_at.desc()).offset(paging.offset).limit(paging.limit)
        )
    ).all()
    return success([user_out(u).model_dump(by_alias=True) for u in users], meta=paging.meta(total))


@router.patch(
    "/{user_id}",
    summary="Change a role or status; a non-active status ends every session",
    responses=error_responses(401, 403, 404, 422),
)
async def update_user(
    user_id: uuid.UUID, body: UserAdminUpdate, admin: AdminUser, db: DbSession, clients: Clients
) -> JSONResponse:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.id == admin.user.id and (
        body.status not in (None, Status.ACTIVE) or body.role not in (None, Role.ADMIN)
    ):
        raise ValidationFailed("administrators cannot demote or suspend themselves")
    if body.role is not None:
        user.role = body.role
    if body.status is not None:
        user.status = body.status
    await db.commit()
    if user.status is not Status.ACTIVE or body.role is not None:
        # Access tokens carry the role: end the sessions so new tokens carry the new one.
        await clients.sessions.revoke_all(str(user.id))
    return success(user_out(user).model_dump(by_alias=True))

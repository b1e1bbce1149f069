"""/api/v1/admin/users: list accounts, change a role or a status (which ends the user's sessions)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from neurmatic.api.auth.presenters import user_out
from neurmatic.api.auth.schemas import Body
from neurmatic.api.deps import AdminUser, Clients, DbSession
from neurmatic.api.pagination import Page
from neurmatic.api.responses import success
from neurmatic.api.security.openapi import error_responses
from neurmatic.domain.users import accounts
from neurmatic.domain.users.models import Role, Status

router = APIRouter(prefix="/admin/users", tags=["admin"])


class UserAdminUpdate(Body):
    role: Role | None = None
    status: Status | None = None


@router.get("", summary="Accounts, newest first", responses=error_responses(401, 403))
async def list_users(_admin: AdminUser, db: DbSession, paging: Page) -> JSONResponse:
    users, total = await accounts.list_accounts(db, offset=paging.offset, limit=paging.limit)
    return success([user_out(u).model_dump(by_alias=True) for u in users], meta=paging.meta(total))


@router.patch(
    "/{user_id}",
    summary="Change a role or status; a non-active status ends every session",
    responses=error_responses(401, 403, 404, 422),
)
async def update_user(
    user_id: uuid.UUID, body: UserAdminUpdate, admin: AdminUser, db: DbSession, clients: Clients
) -> JSONResponse:
    user = await accounts.change_account(
        db, clients.sessions, admin.user, user_id, role=body.role, status=body.status
    )
    return success(user_out(user).model_dump(by_alias=True))

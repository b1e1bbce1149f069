"""Alembic environment: the engine comes from ``neurmatic.db.migrate`` (never from an ini file)."""

from __future__ import annotations

from alembic import context

from neurmatic.db import models  # noqa: F401 - registers the models on the metadata
from neurmatic.db.base import Base
from neurmatic.domain.articles import models as article_models  # noqa: F401
from neurmatic.domain.media import models as media_models  # noqa: F401
from neurmatic.domain.notifications import models as notification_models  # noqa: F401
from neurmatic.domain.users import models as user_models  # noqa: F401

if context.is_offline_mode():
    # `neurmatic migrate --dry-run`: the SQL the upgrade would run, printed, nothing executed.
    context.configure(
        dialect_name="postgresql", target_metadata=Base.metadata, literal_binds=True, transactional_ddl=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

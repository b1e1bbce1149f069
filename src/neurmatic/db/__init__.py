"""Database access: engines with primary/standby routing, the declarative base, Alembic migrations."""

"""The business: users, sessions, articles, media, notifications and the job-queue contract.

Models (SQLAlchemy), rules and queries that know nothing of HTTP, so the API, the worker, the operations
kit and the migrations all use them alike. Nothing here imports ``neurmatic.api``, ``neurmatic.worker``,
``neurmatic.ops`` or ``neurmatic.supervisor`` (``tests/unit/test_layering.py`` holds it so).
"""

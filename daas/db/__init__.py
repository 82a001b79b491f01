"""The DaaS database: SQLModel tables, engines, repositories and Alembic migrations.

- ``daas.db.models``: the tables and the enums stored in them.
- ``daas.db.engine``: ``create_engine_for(database_url)``, ``session_scope``, ``check_connection``.
- ``daas.db.repos``: one module of plain functions per table family; they never commit.
- ``daas.db.migrate``: ``upgrade``, ``downgrade``, ``current``, ``head``, ``ensure_current``.

Nothing is imported here, so ``import daas.db`` stays cheap and creates no engine.
"""

"""Alembic revisions, one module per revision; Alembic itself skips this file."""

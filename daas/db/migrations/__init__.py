"""Alembic scripts of the DaaS schema (a package so that installs ship them; run via daas.db.migrate)."""

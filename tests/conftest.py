"""Shared test configuration.

Fixtures live in `tests/fixtures/`, one module per real dependency, and are loaded here as plugins:

- `tests.fixtures.environment`: `require()` (skip locally, fail under `CI=true`), an autouse clean environment.
- `tests.fixtures.postgres`: a PostgreSQL server found or started for the session, and fresh databases.
- `tests.fixtures.database`: `db_url` / `engine` / `session` parametrised over SQLite and PostgreSQL.
- `tests.fixtures.docker`: a Docker client and a local base image made without any registry.
"""

pytest_plugins = [
    "tests.fixtures.environment",
    "tests.fixtures.postgres",
    "tests.fixtures.database",
    "tests.fixtures.docker",
]

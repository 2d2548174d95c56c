"""The schema revision this okrsync runs on, without SQLAlchemy or Alembic: opening a
store at head compares the stored revision with it (tests/test_startup.py fails when a
migration is added without moving it)."""

# The newest revision in migrations/versions.
HEAD_REVISION = "0006"
# Alembic's table of the revision a database is at (env.py keeps Alembic's default).
VERSION_TABLE = "alembic_version"

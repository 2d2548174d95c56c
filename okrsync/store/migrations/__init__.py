"""Alembic migrations of the store, run in code by `okrsync.store.upgrade` (no alembic.ini).

To add a revision after changing `okrsync/store/_tables.py`, autogenerate it against a
database at head, then review it (autogenerate misses renames and server defaults)::

    from alembic import command
    from okrsync.store import alembic_config, upgrade

    upgrade("sqlite:////tmp/scratch.db")
    command.revision(
        alembic_config("sqlite:////tmp/scratch.db"),
        message="what changes",
        autogenerate=True,
        rev_id="0003",  # the next number: ids sort like the history
    )

Revisions must not import `_tables`: they describe the schema as it was at that step.
"""

# ruff: noqa: E501  (generated: each statement on one line, exactly as SQLAlchemy compiles it)
"""A new SQLite store's schema as the SQL that SQLAlchemy's `metadata.create_all` sends
(`_tables.metadata`, compiled for SQLite), so that a store made at head needs no SQLAlchemy:
see `SqliteStore.create_at_head`. Kept equal to the tables' definitions by
tests/store/test_sqlite_schema.py, which prints this module anew when they differ."""

# The tables and their indexes, in the order `create_all` makes them.
STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE http_etags (\n\tsource VARCHAR NOT NULL, \n\turl VARCHAR NOT NULL, \n\tetag VARCHAR NOT NULL, \n\tstored_at DATETIME NOT NULL, \n\tPRIMARY KEY (source, url)\n)",
    'CREATE TABLE item_versions (\n\tsource VARCHAR NOT NULL, \n\t"key" VARCHAR NOT NULL, \n\tlearned_at DATETIME NOT NULL, \n\tdeleted BOOLEAN NOT NULL, \n\ttitle VARCHAR NOT NULL, \n\ttype VARCHAR NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tbucket VARCHAR NOT NULL, \n\tpoints FLOAT, \n\tlabels JSON NOT NULL, \n\tparent VARCHAR, \n\tupdated DATETIME NOT NULL, \n\turl VARCHAR NOT NULL, \n\tremote_id VARCHAR NOT NULL, \n\tchild_count INTEGER, \n\tPRIMARY KEY (source, "key", learned_at)\n)',
    "CREATE TABLE job_leases (\n\tname VARCHAR NOT NULL, \n\towner VARCHAR NOT NULL, \n\texpires_at DATETIME NOT NULL, \n\tPRIMARY KEY (name)\n)",
    "CREATE TABLE kr_snapshots (\n\tkr_id VARCHAR NOT NULL, \n\tat DATETIME NOT NULL, \n\tcurrent FLOAT, \n\toutcome_progress FLOAT, \n\tdelivery_progress FLOAT, \n\texpected_progress FLOAT NOT NULL, \n\thealth VARCHAR NOT NULL, \n\tdone_weight FLOAT NOT NULL, \n\ttotal_weight FLOAT NOT NULL, \n\tPRIMARY KEY (kr_id, at)\n)",
    "CREATE TABLE metric_errors (\n\tkr_id VARCHAR NOT NULL, \n\tat DATETIME NOT NULL, \n\terror VARCHAR, \n\tPRIMARY KEY (kr_id, at)\n)",
    "CREATE TABLE metric_samples (\n\tid INTEGER NOT NULL, \n\tkr_id VARCHAR NOT NULL, \n\tvalue FLOAT NOT NULL, \n\tat DATETIME NOT NULL, \n\torigin VARCHAR NOT NULL, \n\trecorded_at DATETIME NOT NULL, \n\tnote VARCHAR, \n\tconfidence FLOAT, \n\tPRIMARY KEY (id), \n\tCONSTRAINT uq_metric_samples_kr_id_at UNIQUE (kr_id, at)\n)",
    "CREATE TABLE scope_starts (\n\tfingerprint VARCHAR NOT NULL, \n\tstart DATETIME NOT NULL, \n\tweights JSON NOT NULL, \n\tsaved_at DATETIME NOT NULL, \n\tPRIMARY KEY (fingerprint, start)\n)",
    "CREATE TABLE sync_cursors (\n\tsource VARCHAR NOT NULL, \n\tbookmark_ms BIGINT NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (source)\n)",
    "CREATE TABLE webhook_secrets (\n\tname VARCHAR NOT NULL, \n\tsecret VARCHAR NOT NULL, \n\tsaved_at DATETIME NOT NULL, \n\tPRIMARY KEY (name)\n)",
    'CREATE TABLE work_items (\n\tsource VARCHAR NOT NULL, \n\t"key" VARCHAR NOT NULL, \n\ttitle VARCHAR NOT NULL, \n\ttype VARCHAR NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tbucket VARCHAR NOT NULL, \n\tpoints FLOAT, \n\tlabels JSON NOT NULL, \n\tparent VARCHAR, \n\tupdated DATETIME NOT NULL, \n\turl VARCHAR NOT NULL, \n\tremote_id VARCHAR NOT NULL, \n\tchild_count INTEGER, \n\tseen_at DATETIME NOT NULL, \n\tfirst_seen_at DATETIME, \n\tchanged_at DATETIME, \n\tversioned_at DATETIME, \n\tPRIMARY KEY (source, "key")\n)',
    "CREATE INDEX ix_work_items_source_parent ON work_items (source, parent)",
    "CREATE TABLE writebacks (\n\ttarget VARCHAR NOT NULL, \n\tcontent_hash VARCHAR NOT NULL, \n\tremote_id VARCHAR NOT NULL, \n\twritten_at DATETIME NOT NULL, \n\tPRIMARY KEY (target)\n)",
)

# Alembic's table, as `_schema._VERSIONS` defines it, stamped with the head revision.
VERSION_TABLE_STATEMENT = "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"

TABLES = frozenset(
    [
        "http_etags",
        "item_versions",
        "job_leases",
        "kr_snapshots",
        "metric_errors",
        "metric_samples",
        "scope_starts",
        "sync_cursors",
        "webhook_secrets",
        "work_items",
        "writebacks",
    ]
)

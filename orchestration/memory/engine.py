"""Opening the database: the SQLite or PostgreSQL engine, its settings, and migrations on open.

SQLite: the file is created 0600 in a 0700 directory, WAL journal, `busy_timeout`, foreign keys
on; SQLite gives its `-wal` and `-shm` files the database file's permissions. Transactions are
begun by us (`BEGIN`, or `BEGIN IMMEDIATE` for writes) so several processes writing one file wait
for each other instead of failing. PostgreSQL: psycopg 3, a short connect timeout, stale
connections replaced after a server restart (`pool_pre_ping`).

`migrate` upgrades an older store to the newest revision inside one transaction (concurrent
openers wait for each other) and refuses a store whose revision this Chorus does not know.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from orchestration.memory.errors import StoreError, StoreTooNewError, describe
from orchestration.memory.schema import VERSION_TABLE
from orchestration.memory.settings import StoreConfig

MIGRATIONS: Final = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS: Final = 5000
CONNECT_TIMEOUT_S: Final = 5
WRITE: Final = {"chorus_write": True}
"""Execution options of a write transaction (`BEGIN IMMEDIATE` on SQLite)."""
_MIGRATION_LOCK: Final = 0x63686F72  # "chor": PostgreSQL advisory lock id held while migrating


def store_location(config: StoreConfig) -> str:
    """Where the store is, for messages: the file path or the URL without its password."""
    if config.url:
        return make_url(config.url).render_as_string(hide_password=True)
    return str(config.path)


def _prepare_sqlite_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    elif path.stat().st_uid == os.geteuid() and path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("chorus_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(config: StoreConfig) -> Engine:
    """The engine for `config` (the SQLite file is created if missing); raises StoreError."""
    try:
        if config.url:
            url = make_url(config.url).set(drivername="postgresql+psycopg")
            return create_engine(
                url,
                pool_pre_ping=True,
                pool_size=2,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "chorus"},
            )
        path = config.path.expanduser()
        _prepare_sqlite_file(path)
        engine = create_engine(
            f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
    except (OSError, SQLAlchemyError, ValueError) as error:
        raise StoreError(f"cannot open the store at {store_location(config)}: {describe(error)}") from error
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config() -> AlembicConfig:
    """Alembic's configuration for the memory's migrations (no ini file, nothing printed)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this Chorus knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError("the store's migrations are missing from this installation")
    return head


def current_revision(connection: Connection) -> str | None:
    """The store's schema revision, or None for an empty database."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def migrate(engine: Engine, location: str, target: str = "head") -> str:
    """Bring the store to `target` (default: the newest revision); returns the revision it is at.

    A store already at `target` is only read (opening works while another process writes). Raises
    StoreTooNewError when the store's revision is unknown here, StoreError when the database cannot
    be reached or written.
    """
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    wanted = script.get_current_head() if target == "head" else target

    def checked(current: str | None) -> str | None:
        if current is not None and current not in known:
            raise StoreTooNewError(
                f"the store at {location} has schema revision {current}, which this Chorus does not know "
                "(it was written by a newer Chorus): upgrade Chorus, or set [store] path to another file"
            )
        return current

    try:
        with engine.connect() as connection, connection.begin():
            current = checked(current_revision(connection))
        if current == wanted:
            return current or ""
        with engine.connect().execution_options(**WRITE) as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            if checked(current_revision(connection)) != wanted:
                config.attributes["connection"] = connection
                command.upgrade(config, target)
            return current_revision(connection) or ""
    except StoreError:
        raise
    except (SQLAlchemyError, OSError) as error:
        raise StoreError(f"cannot open the store at {location}: {describe(error)}") from error

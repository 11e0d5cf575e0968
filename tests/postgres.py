"""A real, throwaway PostgreSQL server for tests: find the binaries, initdb, start, stop.

`PostgresServer.start(base)` runs `initdb` into a fresh directory and `pg_ctl start` on a free
loopback port (its socket in the data directory, so nothing system-wide is touched); `url(db)`
gives a `postgresql://` URL, `create_database()` a fresh database, `stop(mode)` and `start_again()`
stop it (`"immediate"` is a crash) and bring it back on the same port. As root, the server runs
as the `postgres` user (initdb refuses root). `find_bindir()` returns None only when no
PostgreSQL binaries exist; tests then skip with `SKIP_REASON`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg

SKIP_REASON: Final = (
    "no PostgreSQL binaries (initdb, pg_ctl) found: install Debian's postgresql "
    "(.ci/postgres.sh does) or set CHORUS_PG_BIN to their directory"
)


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: $CHORUS_PG_BIN, Debian's newest, or PATH."""
    candidates = []
    if os.environ.get("CHORUS_PG_BIN"):
        candidates.append(os.environ["CHORUS_PG_BIN"])
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(slots=True)
class PostgresServer:
    """One running (or stopped) throwaway server."""

    bindir: Path
    datadir: Path
    port: int
    run_as: str | None
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def start(cls, bindir: Path) -> PostgresServer:
        """initdb into a new directory under the system temp dir and start the server."""
        run_as = "postgres" if os.geteuid() == 0 else None
        base = Path(tempfile.mkdtemp(prefix="chorus-pg-"))
        datadir = base / "data"
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        server = cls(bindir, datadir, free_port(), run_as)
        server._run("initdb", "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        server.start_again()
        return server

    def _run(self, program: str, *args: str) -> None:
        completed = subprocess.run(
            [str(self.bindir / program), *args],
            user=self.run_as,
            cwd=self.datadir.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}"
            )

    def start_again(self) -> None:
        """Start the (stopped) server on its port."""
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1"
        log = self.datadir.parent / "server.log"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" (clean) or "immediate" (like a crash)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """A psycopg/SQLAlchemy-ready URL for `database` (trust authentication, no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"chorus_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server (if running) and delete its directory."""
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

"""A throwaway PostgreSQL server for one test session.

The server lives in a temporary directory, listens on a free port of 127.0.0.1 (its unix
socket stays inside that directory), runs without fsync, and is stopped and deleted at
the end, including when the session is interrupted. initdb and postgres refuse to run as
root, so as root they run as the `postgres` system user through `runuser`.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import psycopg
from psycopg import sql

INSTALL_HINT = "run `bash .ci/ensure-postgres` (make test does)"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_VERSIONS_DIR = Path("/usr/lib/postgresql")  # /usr/lib/postgresql/<version>/bin
SERVER_USER = "postgres"  # the superuser inside the cluster, and the OS user when root
READY_TIMEOUT_S = 30.0
START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it

# Test data is disposable: trade durability for speed.
TEST_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ServerBinaries:
    initdb: Path
    pg_ctl: Path  # starts `postgres` from its own directory


def find_server_binaries() -> ServerBinaries | None:
    """initdb/pg_ctl/postgres on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = [shutil.which(name) for name in SERVER_BINARIES]
    if all(on_path):
        # Resolve symlinks: pg_ctl looks for `postgres` next to its real location.
        initdb, pg_ctl, _ = (Path(found).resolve() for found in on_path if found)
        return ServerBinaries(initdb=initdb, pg_ctl=pg_ctl)
    for bin_dir in sorted(DEBIAN_VERSIONS_DIR.glob("*/bin"), key=_version_key, reverse=True):
        if all(os.access(bin_dir / name, os.X_OK) for name in SERVER_BINARIES):
            return ServerBinaries(initdb=bin_dir / "initdb", pg_ctl=bin_dir / "pg_ctl")
    return None


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """ "15" → (15,), "9.6" → (9, 6); unparsable names sort first."""
    try:
        return tuple(int(part) for part in bin_dir.parent.name.split("."))
    except ValueError:
        return (-1,)


def _os_user_for_server() -> str | None:
    """The OS user to run the server as: None for the current one, `postgres` for root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, which initdb/postgres refuse, and there is no `{SERVER_USER}` "
            f"system user to run them as: {INSTALL_HINT}, or `useradd --system {SERVER_USER}`"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and `runuser` is missing (util-linux)")
    return SERVER_USER


class PostgresServer:
    """Use as a context manager: started on enter, stopped and deleted on exit."""

    def __init__(self, binaries: ServerBinaries, os_user: str | None) -> None:
        self._binaries = binaries
        self._os_user = os_user
        self._root: Path | None = None
        self.port = 0

    @classmethod
    def discover(cls) -> PostgresServer:
        """A server ready to start; raises PostgresUnavailable with a printable reason."""
        binaries = find_server_binaries()
        if binaries is None:
            raise PostgresUnavailable(f"PostgreSQL server binaries not found: {INSTALL_HINT}")
        return cls(binaries, _os_user_for_server())

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        # Registered first: a session killed by Ctrl-C mid-start still cleans up.
        atexit.register(self.stop)
        self._root = Path(tempfile.mkdtemp(prefix="okrsync-pg-"))
        self._socket_dir.mkdir()
        if self._os_user is not None:
            for path in (self._root, self._socket_dir):
                shutil.chown(path, user=self._os_user)
        self._initdb()
        self._start_on_a_free_port()
        self._wait_until_ready()

    def stop(self) -> None:
        """Idempotent: stop the server if it runs, delete its directory."""
        atexit.unregister(self.stop)
        # The pid file, not a flag: an interrupt inside `pg_ctl start` may leave a server.
        if self._root is not None and (self._data_dir / "postmaster.pid").exists():
            self._run(
                [self._binaries.pg_ctl, "stop", "-D", self._data_dir, "-m", "fast", "-w"],
                check=False,
            )
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    # -- databases ----------------------------------------------------------------------

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for `database` on this server."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        with self._admin_connection() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def empty_database(self, name: str) -> None:
        """Drop everything in `name`: 4 ms here, where CREATE DATABASE takes 100-250 ms."""
        with psycopg.connect(self._conninfo(name), autocommit=True) as connection:
            # A test that leaked an open transaction fails fast instead of hanging the run.
            connection.execute("SET lock_timeout = '5s'")
            connection.execute("DROP SCHEMA public CASCADE")
            connection.execute("CREATE SCHEMA public")

    def drop_database(self, name: str) -> None:
        # FORCE: a test that forgot to close its Store must not block the drop.
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        with self._admin_connection() as connection:
            connection.execute(statement.format(sql.Identifier(name)))

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        return psycopg.connect(self._conninfo("postgres"), autocommit=True)

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname={database}"

    # -- steps ----------------------------------------------------------------------------

    def _initdb(self) -> None:
        self._run(
            [
                self._binaries.initdb,
                "-D",
                self._data_dir,
                "-A",
                "trust",
                "-U",
                SERVER_USER,
                "--no-sync",
                "-E",
                "UTF8",
                "--no-locale",  # the machine's locale may not be installed
            ]
        )
        settings = TEST_SETTINGS | {"unix_socket_directories": f"'{self._socket_dir}'"}
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# okrsync test session\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _start_on_a_free_port(self) -> None:
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = _free_port()
            started = self._run(
                [
                    self._binaries.pg_ctl,
                    "start",
                    "-D",
                    self._data_dir,
                    "-l",
                    self._log_file,
                    "-o",
                    f"-p {self.port}",
                    "-w",
                    "-t",
                    str(int(READY_TIMEOUT_S)),
                ],
                check=attempt == START_ATTEMPTS,
            )
            if started.returncode == 0:
                return

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on port {self.port} refused connections for "
                        f"{READY_TIMEOUT_S:.0f}s: {error}\n{self._log_tail()}"
                    ) from error
                time.sleep(0.1)

    def _run(
        self, command: Sequence[str | Path], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(part) for part in command]
        if self._os_user is not None:
            argv = ["runuser", "-u", self._os_user, "--", *argv]
        # cwd: the server user may not be allowed into the caller's working directory.
        completed = subprocess.run(
            argv, cwd=self._root, capture_output=True, text=True, check=False
        )
        if check and completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}{self._log_tail()}"
            )
        return completed

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log_file.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def _data_dir(self) -> Path:
        return self._directory / "data"

    @property
    def _socket_dir(self) -> Path:
        return self._directory / "socket"

    @property
    def _log_file(self) -> Path:
        return self._directory / "postgres.log"

    @property
    def _directory(self) -> Path:
        if self._root is None:
            raise RuntimeError("the server is not started")
        return self._root


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM (how CI cancels a job) into KeyboardInterrupt while the block runs.

    By default SIGTERM kills Python without running `finally` or atexit handlers, which
    would leave the server running and its directory behind.
    """
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield  # someone else handles SIGTERM already
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port

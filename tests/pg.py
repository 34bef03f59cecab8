"""Throwaway PostgreSQL + PostGIS server for the database tests (a helper module, not tests).

``start_server()`` runs Debian's ``initdb`` into a fresh folder under ``/tmp``, starts
``postgres`` on a free loopback port (its unix socket in that folder too, so it neither needs
nor disturbs a cluster the Debian package may have started on 5432), creates a database with
PostGIS and returns a :class:`Server`; ``Server.stop()`` stops it and removes the folder.
As root it runs the server as the ``postgres`` user (``runuser``), since ``initdb`` refuses root.

Binaries are looked up in ``$HEALTHOPT_PG_BIN``, then the newest ``/usr/lib/postgresql/*/bin``;
PostGIS must be installed for that version. CI: ``apt-get install postgresql postgresql-postgis``
(see ``.ci/run``). :func:`missing` says what is missing, for ``pytest.skip``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN_ENV = "HEALTHOPT_PG_BIN"
SKIP_MESSAGE = "PostgreSQL with PostGIS is not installed: apt-get install postgresql postgis (CI does this in .ci/run)"
DATABASE = "healthopt_test"
SUPERUSER = "postgres"
SERVER_SETTINGS = ("fsync=off", "full_page_writes=off", "synchronous_commit=off", "max_connections=40",
                   "shared_buffers=32MB", "listen_addresses=127.0.0.1")  # fmt: skip


def find_bin() -> Path | None:
    """Return the folder with ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``."""
    env = os.environ.get(PG_BIN_ENV)
    candidates = [Path(env)] if env else sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "pg_config")):
            return folder
    return None


def _version(folder: Path) -> float:
    try:
        return float(folder.parent.name)
    except ValueError:
        return 0.0


def missing() -> str | None:
    """Return why a server cannot be started here (the skip message), or ``None``."""
    folder = find_bin()
    if folder is None:
        return SKIP_MESSAGE
    share = subprocess.run([folder / "pg_config", "--sharedir"], capture_output=True, text=True, check=False)
    if not (Path(share.stdout.strip()) / "extension" / "postgis.control").is_file():
        return f"{SKIP_MESSAGE} [PostGIS missing for {folder}]"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user(SUPERUSER)):
        return f"{SKIP_MESSAGE} [running as root needs runuser and a '{SUPERUSER}' user]"
    return None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running throwaway server; ``url`` reaches database :data:`DATABASE` as the superuser."""

    root: Path
    bin: Path
    port: int
    password: str

    @property
    def url(self) -> str:
        """URL of the test database (password authentication over TCP)."""
        return self.url_for(DATABASE)

    def url_for(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """URL of another database or user on this server."""
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            _run(self.bin / "pg_ctl", "-D", self.root / "data", "-m", "fast", "-w", "-t", "30", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _as_owner(args: list) -> list[str]:
    args = [str(a) for a in args]
    return ["runuser", "-u", SUPERUSER, "--", *args] if os.geteuid() == 0 else args


def _run(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    done = subprocess.run(_as_owner(list(args)), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


def _make_root() -> tuple[Path, str]:
    root = Path(tempfile.mkdtemp(prefix="healthopt-pg-"))
    password = secrets.token_hex(12)
    (root / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SUPERUSER)
        for path in (root, root / "pwfile"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return root, password


def _init(folder: Path, root: Path) -> None:
    _run(folder / "initdb", "-D", root / "data", "-U", SUPERUSER, f"--pwfile={root / 'pwfile'}", "-E", "UTF8",
         "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions")  # fmt: skip


def _start(folder: Path, root: Path, tries: int = 3) -> int:
    for attempt in range(tries):
        port = free_port()
        options = " ".join([f"-p {port}", f"-k {root}", *(f"-c {s}" for s in SERVER_SETTINGS)])
        try:
            _run(folder / "pg_ctl", "-D", root / "data", "-o", options, "-l", root / "server.log", "-w", "-t", "30",
                 "start")  # fmt: skip
            return port
        except RuntimeError:
            if attempt == tries - 1:
                log = root / "server.log"
                raise RuntimeError(log.read_text()[-2000:] if log.exists() else "server did not start") from None
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _create_database(url_postgres: str, url_test: str) -> None:
    import psycopg

    with psycopg.connect(url_postgres, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(url_test, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")


def start_server() -> Server:
    """Start a fresh server with database :data:`DATABASE` (PostGIS enabled); call ``stop()`` after."""
    folder = find_bin()
    if folder is None:
        raise RuntimeError(SKIP_MESSAGE)
    root, password = _make_root()
    server = None
    try:
        _init(folder, root)
        server = Server(root, folder, _start(folder, root), password)
        _create_database(server.url_for("postgres"), server.url)
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            shutil.rmtree(root, ignore_errors=True)
        raise

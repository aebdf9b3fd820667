"""A throwaway PostgreSQL cluster on loopback for the tests and benchmarks.

``start_postgres()`` finds the server binaries (installing the Debian package when they
are missing and we are root), runs ``initdb`` into a temporary directory, starts the
server on 127.0.0.1 on a free port with its unix socket inside that directory, and
returns ``postgresql://postgres@127.0.0.1:PORT/postgres``. The server is stopped and
the directory removed when the process exits (atexit), and also when it is killed: a
small reaper process watches it. One cluster per process (cached).

Why run it as another user: ``initdb`` and ``postgres`` refuse to run as root, so when
we are root the directory is handed to the ``postgres`` system user (or ``nobody``)
and the binaries are run through ``runuser``.

Test clusters run with ``fsync=off`` (see ``Cluster.start``): the tests prove behaviour,
not durability, and the shared 2-core CI machine should not wait on disk flushes. The
benchmark starts its own cluster with ``durable=True`` so its figures include them.

When ``CI=true`` a cluster that cannot be started is an error, not a skip: CI must run
the PostgreSQL tests.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cluster", "PostgresSetupError", "create_database", "find_bindir", "start_cluster", "start_postgres"]

_lock = threading.Lock()
_cached: Cluster | None = None
_failed: str | None = None
_apt_updated = False


class PostgresSetupError(RuntimeError):
    """The PostgreSQL test server could not be installed or started (the message says why)."""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _is_root() -> bool:
    return os.geteuid() == 0


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb``, else the one on PATH, else None."""
    found: list[tuple[int, Path]] = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        with contextlib.suppress(ValueError):
            found.append((int(version.split(".")[0]), Path(initdb).parent))
    if found:
        return max(found)[1]
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    return None


def _install() -> None:
    """``apt-get install postgresql`` when we are root and apt knows the package."""
    global _apt_updated
    if not _is_root() or shutil.which("apt-get") is None:
        raise PostgresSetupError("PostgreSQL is not installed and we cannot install it "
                                 "(need root and apt-get): apt-get install postgresql")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = subprocess.run(["apt-cache", "policy", "postgresql"], capture_output=True, text=True, env=env)
    if ("Candidate: (none)" in policy.stdout or not policy.stdout.strip()) and not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        _apt_updated = True
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 and not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        _apt_updated = True
        proc = subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], capture_output=True, text=True,
                              env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise PostgresSetupError(f"apt-get install postgresql failed: {proc.stderr.strip()[-500:]}")


def _run_as() -> str | None:
    """The user to run the server as: None (ourselves) unless we are root."""
    if not _is_root():
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresSetupError("running as root and neither a 'postgres' nor a 'nobody' user exists to run initdb")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """One running throwaway cluster; ``stop()`` shuts it down and removes its directory."""

    bindir: Path
    root: Path
    port: int
    user: str
    run_as: str | None
    stopped: bool = False
    _stop_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reaper: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def _check(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise PostgresSetupError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}\n{tail}")

    def init(self) -> None:
        # --no-sync: the cluster is thrown away; initdb's final flush only costs time.
        self._check("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                    "--locale=C", "--no-sync", "--no-instructions")

    def start(self, *, durable: bool) -> None:
        opts = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=300",
            "-c shared_buffers=32MB",
            "-c log_min_messages=warning",
        ]
        if not durable:
            # Test speed only (module docstring): the data is thrown away when the tests end.
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._check("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                    "-o", " ".join(opts), "start")

    def start_reaper(self) -> None:
        """A tiny shell process that stops the server and removes the directory once this process
        is gone, however it ended: atexit handlers do not run after SIGKILL or an unhandled SIGTERM
        (a CI timeout), and an orphaned server would keep its port and files."""
        script = ('parent=$1; shift; while kill -0 "$parent" 2>/dev/null; do sleep 1; done; '
                  '"$@" >/dev/null 2>&1; rm -rf "$ROOT"')
        stop = self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
        self._reaper = subprocess.Popen(["sh", "-c", script, "reaper", str(os.getpid()), *stop],
                                        env={**os.environ, "ROOT": str(self.root)}, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, cwd="/")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; safe to call twice."""
        with self._stop_lock:
            if self.stopped:
                return
            self.stopped = True
        if self._reaper is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._reaper.kill()
                self._reaper.wait(timeout=5)
        with contextlib.suppress(Exception):
            subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop"),
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL, cwd=self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(*, durable: bool = False) -> Cluster:
    """Install if needed, initdb into a new temporary directory and start; stopped at exit.

    Raises PostgresSetupError with the reason when anything fails.
    """
    bindir = find_bindir()
    if bindir is None:
        _install()
        bindir = find_bindir()
        if bindir is None:
            raise PostgresSetupError("postgresql was installed but no initdb was found under /usr/lib/postgresql")
    run_as = _run_as()
    # Under /tmp when the server runs as another user: it must be able to reach the directory,
    # and a TMPDIR inside root's home would not let it.
    root = Path(tempfile.mkdtemp(prefix="signoff-pg-", dir="/tmp" if run_as and Path("/tmp").is_dir() else None))
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    cluster = Cluster(bindir=bindir, root=root, port=0, user="postgres", run_as=run_as)
    atexit.register(cluster.stop)
    cluster.start_reaper()
    try:
        cluster.init()
        last: Exception | None = None
        for _ in range(3):  # a free port can be taken between our probe and the server's bind
            cluster.port = _free_port()
            try:
                cluster.start(durable=durable)
                return cluster
            except PostgresSetupError as exc:
                last = exc
        raise last or PostgresSetupError("could not start PostgreSQL")
    except BaseException:
        cluster.stop()
        raise


def start_own_cluster(*, durable: bool = False) -> Cluster:
    """A cluster of the test's own, which it may stop and start (the caller stops it at the end).
    When PostgreSQL cannot be started the test is skipped with the reason, except under ``CI=true``."""
    import pytest

    try:
        return start_cluster(durable=durable)
    except PostgresSetupError as exc:
        if _in_ci():
            raise
        pytest.skip(f"PostgreSQL could not be started: {exc}")


def start_postgres() -> str | None:
    """The URL of this process's test cluster (started on first call), or None when impossible.

    Under ``CI=true`` a failure raises PostgresSetupError instead of returning None.
    """
    global _cached, _failed
    with _lock:
        if _cached is not None and not _cached.stopped:
            return _cached.url
        if _failed is not None and not _in_ci():
            return None
        try:
            _cached = start_cluster(durable=False)
        except (PostgresSetupError, OSError, subprocess.SubprocessError) as exc:
            _failed = str(exc)
            if _in_ci():
                raise PostgresSetupError(f"CI=true and PostgreSQL could not be started: {exc}") from exc
            return None
        return _cached.url


def create_database(url: str, name: str | None = None) -> str:
    """Create an empty database on the server of ``url``; returns its URL (for one test)."""
    import psycopg

    name = name or "t_" + uuid.uuid4().hex[:16]
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r} must be letters, digits and underscores")
    for attempt in range(5):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')  # name checked above
            break
        except psycopg.errors.ObjectInUse:  # template busy with a concurrent CREATE DATABASE
            time.sleep(0.1 * (attempt + 1))
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"

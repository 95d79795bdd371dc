"""A throwaway Redis (Debian's redis-server), as the production rate-limit storage."""

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from .process import (
    SBIN,
    Server,
    accepts_connections,
    free_port,
    need,
    show_log_on_failure,
    wait_until,
)


class Redis(Server):
    """A running redis-server; `uri` is what RATELIMIT_STORAGE_URI takes."""

    @property
    def uri(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args):
        """Run a redis-cli command against this server; returns its output."""
        command = [need("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port), *args]
        return subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()


@contextlib.contextmanager
def redis():
    """redis-server on 127.0.0.1:<free port>, keeping nothing on disk, stopped by PID."""
    executable = need("redis-server", *SBIN)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-redis-"))
    log = folder / "redis.log"
    settings = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    settings += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(log)]
    process = subprocess.Popen(
        [executable, *settings], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Redis(process, port, log)
    try:
        with show_log_on_failure("redis", log):
            wait_until(lambda: accepts_connections(port), "redis", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

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

    command: list = None  # to start it again, on the same port and data folder

    def restart(self):
        """Stop it (SIGTERM: with persistence on, Redis writes its data) and start it again."""
        self.stop()
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: accepts_connections(self.port), "redis", self.process, self.log_path)

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
def redis(persist=False):
    """redis-server on 127.0.0.1:<free port>, stopped by PID. It keeps nothing on disk, or
    with `persist` an append-only file written at every command, as a queue wants."""
    executable = need("redis-server", *SBIN)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-redis-"))
    log = folder / "redis.log"
    settings = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    settings += ["--save", "", "--daemonize", "no", "--logfile", str(log)]
    if persist:
        settings += ["--appendonly", "yes", "--appendfsync", "always"]
    else:
        settings += ["--appendonly", "no"]
    process = subprocess.Popen(
        [executable, *settings], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Redis(process, port, log)
    server.command = [executable, *settings]
    try:
        with show_log_on_failure("redis", log):
            wait_until(lambda: accepts_connections(port), "redis", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

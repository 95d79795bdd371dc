"""What every server helper shares: finding programs, free ports, waiting, stopping, logs."""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_SECONDS = 30
SBIN = ["/usr/sbin", "/usr/local/sbin", "/sbin"]  # nginx lives here; not on every user's PATH


def missing(reason):
    """Skip the test because a program is missing (under CI, conftest makes that a failure)."""
    pytest.skip(reason)


def need(program, *folders):
    """The path of `program`, looked up on PATH and then in `folders`; skips when absent."""
    path = shutil.which(program) or shutil.which(program, path=os.pathsep.join(folders))
    if path is None:
        missing(f"{program} is not installed")
    return path


def ephemeral_ports_start():
    """Where Linux starts the source ports of outgoing connections (32768 by default)."""
    with contextlib.suppress(OSError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 32768


# Below the ephemeral range: between the probe and the server's own bind, a port there cannot
# be taken as the source port of some other test's connection (seen once: Docker's "address
# already in use" for a published port while the other xdist worker ran its tests).
EPHEMERAL_START = ephemeral_ports_start()
PORTS = range(max(1024, EPHEMERAL_START - 12000), EPHEMERAL_START)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the ephemeral range."""
    for port in random.sample(PORTS, 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {PORTS.start}-{PORTS.stop - 1}")


def wait_until(ready, what, process=None, log=None, seconds=STARTUP_SECONDS):
    """Poll `ready()` until it is true; raise if `process` dies or time runs out."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{read(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {seconds} s:\n{read(log)}")
        time.sleep(0.1)


def read(path):
    """A log file's text, or a note that there is none."""
    if path is None or not Path(path).exists():
        return "(no log)"
    return Path(path).read_text(errors="replace")


def accepts_connections(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def answers_http(url):
    """True when `url` gives any HTTP response at all (an error status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def answers_ok(url):
    """True when `url` answers with a success status: a readiness endpoint says ready."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:  # HTTPError too: prometheus's /-/ready is a 503 until it has started
        return False


def worker_pids(master):
    """The pids of the processes whose parent is `master`: a Gunicorn master's workers."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == master:
                pids.append(int(stat.parent.name))
    return sorted(pids)


def descendants(pid):
    """The pids of a process's children, their children, and so on."""
    children = worker_pids(pid)
    return [p for child in children for p in (child, *descendants(child))]


def stop_process(process, seconds=15):
    """Ask a process to stop with SIGTERM; kill it if it has not stopped in `seconds`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def show_log_on_failure(name, log):
    """Print a server's log when the block raises, so the failure report carries it."""
    try:
        yield
    except BaseException:
        print(f"----- {name} log -----\n{read(log)}", file=sys.stderr)
        raise


@dataclass
class Server:
    """A server process listening on 127.0.0.1:port."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self):
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self):
        """host:port, as an nginx upstream server line wants it."""
        return f"127.0.0.1:{self.port}"

    def log(self):
        """Everything the server has written to stdout and stderr so far."""
        return read(self.log_path)

    def stop(self):
        """Stop the server; harmless when it has stopped already."""
        stop_process(self.process)

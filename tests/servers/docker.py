"""A private Docker daemon, the stand-in base images, and compose projects run on it.

No image registry is reachable here, so the base images the baked files name are made from
Debian: `debootstrap` gives local/debian:bookworm, and each folder of tests/images holds a
small Dockerfile FROM it, tagged with the official name (each says how it differs). The
daemon keeps its data in one cache folder (.cache/docker), so images are built once and
reused by later runs. The daemon is stopped by its PID, and what it leaves on the host (its
bridges, iptables chains and policy, ip_forward, empty nftables tables) is put back as it was.
"""

import contextlib
import email
import email.policy
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .process import SBIN, missing, need, read, show_log_on_failure, stop_process, wait_until

TESTS = Path(__file__).resolve().parent.parent
CACHE = TESTS.parent / ".cache" / "docker"
IMAGES = TESTS / "images"
BASE_IMAGE = "local/debian:bookworm"
# tests/images/<folder> -> the tag the baked Dockerfile and compose files use.
STAND_INS = {
    "python": "python:3.11-slim",
    "postgres": "postgres:17-alpine",
    "nginx": "nginx:stable-alpine",
    "redis": "redis:7-alpine",
    "mailpit": "axllent/mailpit:v1.20.4",
}
HOST_CA_CERTIFICATES = Path("/usr/local/share/ca-certificates")
DEBIAN_CLIENT = "/usr/bin/docker"  # /usr/local/bin/docker needs buildx, which Debian lacks


APT_SOURCES = Path("/etc/apt")


def debian_mirror(apt=APT_SOURCES):
    """The Debian archive this machine's apt uses, from its own sources (the only one reachable
    here, and the one its proxy or mirror settings name): the first URI whose path ends in
    /debian, in one-line (`deb URI suite ...`) or deb822 (`URIs: URI`) form."""
    sources = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for path in sources:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["deb"]:
                    uris = [word for word in words[1:] if "://" in word][:1]
                elif words[:1] == ["URIs:"]:
                    uris = words[1:]
                else:
                    continue
                for uri in uris:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
    missing(
        "apt's sources (/etc/apt/sources.list, sources.list.d/) name no Debian archive "
        "(a URI ending in /debian), which debootstrap needs to build the stand-in images"
    )


@dataclass
class Docker:
    """The client side of a running private daemon."""

    env: dict  # DOCKER_HOST and what Debian's client and docker-compose need
    log_path: Path
    host_before: "HostState" = None  # this machine before the daemon started
    run_dir: Path = None  # its sockets and state, removed when it stops

    def run(self, *args, cwd=None, check=True, timeout=900, input=None):
        """Run `docker ARGS`; returns the CompletedProcess (text), raising on failure."""
        return self.command([DEBIAN_CLIENT, *args], cwd, check, timeout, input)

    def compose(self, project, *args, check=True, timeout=900):
        """Run `docker-compose ARGS` in a project folder."""
        return self.command([need("docker-compose"), *args], project, check, timeout)

    def command(self, command, cwd=None, check=True, timeout=900, input=None):
        result = subprocess.run(
            command,
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(command)} exited with {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def has_image(self, tag):
        return self.run("image", "inspect", tag, check=False).returncode == 0

    def log(self):
        return read(self.log_path)

    def leftovers(self):
        """Once the daemon has stopped: what it left on this machine (should be nothing)."""
        found = self.host_before.leftovers()
        found += [f"process {pid}" for pid in processes_under(self.run_dir)]
        mounts = Path("/proc/self/mounts").read_text().split("\n")
        found += [f"mount {m.split()[1]}" for m in mounts if str(self.run_dir) in m]
        return found + ([str(self.run_dir)] if self.run_dir.exists() else [])


# Host state the daemon changes ---------------------------------------------------------

BUILT_IN_CHAINS = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}


def iptables_state(table):
    """(chains with their policies, rules) of one iptables table, as iptables-save lists them."""
    result = subprocess.run(
        [need("iptables-save", *SBIN), "-t", table], capture_output=True, text=True, check=False
    )
    lines = result.stdout.splitlines()
    chains = {line[1:].split()[0]: line[1:].split()[1] for line in lines if line.startswith(":")}
    rules = [line for line in lines if line.startswith("-A ")]
    return chains, rules


def nft(*args):
    return subprocess.run(
        [need("nft", *SBIN), *args], capture_output=True, text=True, check=False
    ).stdout


def nft_tables():
    """The nftables tables ("ip nat", ...). iptables-nft makes one for each table the daemon
    touches and leaves it, empty, after the rules are gone; iptables-save does not show it."""
    return {line.split(maxsplit=1)[1] for line in nft("list", "tables").splitlines()}


def nft_rules(table):
    """How many rules an nftables table holds."""
    listing = json.loads(nft("-j", "list", "table", *table.split()) or '{"nftables": []}')
    return sum("rule" in item for item in listing["nftables"])


@dataclass
class HostState:
    iptables: dict
    links: set
    ip_forward: str
    tables: set  # nftables

    @classmethod
    def now(cls):
        return cls(
            iptables={table: iptables_state(table) for table in ("filter", "nat")},
            links=set(os.listdir("/sys/class/net")),
            ip_forward=Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
            tables=nft_tables(),
        )

    def restore(self):
        """Remove the links, iptables rules and chains made since, and put policies back."""
        for link in set(os.listdir("/sys/class/net")) - self.links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)
        iptables = need("iptables", *SBIN)
        for table, (chains, rules) in self.iptables.items():
            now_chains, now_rules = iptables_state(table)
            for rule in now_rules:
                if rule not in rules:
                    chain, *spec = shlex.split(rule)[1:]
                    subprocess.run([iptables, "-t", table, "-D", chain, *spec], check=False)
            for chain in now_chains.keys() - chains.keys() - BUILT_IN_CHAINS:
                subprocess.run([iptables, "-t", table, "-F", chain], check=False)
                subprocess.run([iptables, "-t", table, "-X", chain], check=False)
            for chain, policy in chains.items():
                if policy != "-" and now_chains.get(chain) != policy:
                    subprocess.run([iptables, "-t", table, "-P", chain, policy], check=False)
            if not chains and now_chains:  # the table did not exist: leave built-ins open
                for chain in ("INPUT", "FORWARD", "OUTPUT"):
                    if now_chains.get(chain, "-") not in ("-", "ACCEPT"):
                        subprocess.run([iptables, "-t", table, "-P", chain, "ACCEPT"], check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(self.ip_forward + "\n")
        for table in nft_tables() - self.tables:
            if nft_rules(table) == 0:
                nft("delete", "table", *table.split())

    def leftovers(self):
        """What differs from this state: new links, rules, chains, policies or ip_forward."""
        after = HostState.now()
        found = sorted(after.links - self.links)
        for table, (chains, rules) in after.iptables.items():
            before_chains, before_rules = self.iptables[table]
            found += [f"{table}: {rule}" for rule in rules if rule not in before_rules]
            new_chains = chains.keys() - before_chains.keys() - BUILT_IN_CHAINS
            found += [f"{table}: chain {chain}" for chain in sorted(new_chains)]
            found += [
                f"{table}: {chain} policy {policy}"
                for chain, policy in chains.items()
                if policy not in ("-", "ACCEPT", before_chains.get(chain))
            ]
        if after.ip_forward != self.ip_forward:
            found.append(f"ip_forward={after.ip_forward}")
        found += [f"nftables table {table}" for table in sorted(after.tables - self.tables)]
        return found


def processes_under(folder):
    """PIDs whose command line names `folder` (the daemon, containerd and their shims)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(folder) in cmdline.read_bytes().decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
    return pids


# The daemon ----------------------------------------------------------------------------


def prerequisites():
    """dockerd's path, once the programs the daemon and the tests need are there (else the
    test skips, or fails under CI)."""
    dockerd = need("dockerd", *SBIN)
    for program in (DEBIAN_CLIENT, "docker-compose", "debootstrap", "iptables", "ip", "nft"):
        need(program, *SBIN)
    if os.geteuid() != 0:
        missing("dockerd needs root")
    return dockerd


@contextlib.contextmanager
def docker_daemon():
    """A private dockerd (data in .cache/docker, sockets in a temp folder) for one session.

    A lock file lets only one such daemon run on this machine at a time (tests, benchmarks).
    """
    dockerd = prerequisites()
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "daemon.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = HostState.now()
        run_dir = Path(tempfile.mkdtemp(prefix="e2e-docker-"))
        log = run_dir / "dockerd.log"
        socket = run_dir / "docker.sock"
        command = [
            dockerd,
            "--data-root",
            str(CACHE / "data-root"),
            "--exec-root",
            str(run_dir / "exec"),
            "--pidfile",
            str(run_dir / "docker.pid"),
            "--host",
            f"unix://{socket}",
            # A port `docker run -p` publishes without an address binds to loopback here. This
            # covers only the default bridge: a compose project's own network needs its
            # com.docker.network.bridge.host_binding_ipv4 option (test_docker's override).
            "--ip",
            "127.0.0.1",
        ]
        with open(log, "wb") as out:
            # Its own session: a Ctrl-C at the terminal reaches pytest, whose clean-up below
            # stops the daemon, not the daemon half-way through it.
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        env = {
            **os.environ,
            "PATH": f"/usr/bin:{os.environ.get('PATH', '')}",
            "DOCKER_HOST": f"unix://{socket}",
            "DOCKER_BUILDKIT": "1",
            "COMPOSE_DOCKER_CLI_BUILD": "1",
            "DOCKER_CONFIG": str(run_dir / "client"),  # no user's client settings
        }
        docker = Docker(env, log, before, run_dir)
        previous = interrupt_on_sigterm()
        try:
            with show_log_on_failure("dockerd", log):
                wait_until(
                    lambda: docker.run("info", check=False).returncode == 0,
                    "dockerd",
                    process,
                    log,
                    seconds=60,
                )
                yield docker
        finally:
            stop_process(process, seconds=60)
            for pid in processes_under(run_dir):  # containerd and shims, should any outlive it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            before.restore()
            subprocess.run(["umount", "-R", str(run_dir / "exec")], capture_output=True)
            shutil.rmtree(run_dir, ignore_errors=True)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def interrupt_on_sigterm():
    """Make SIGTERM (`kill`, a CI runner's cancel) a KeyboardInterrupt, as Ctrl-C is, so the
    daemon's clean-up runs; returns the handler it replaced (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


# Stand-in images -------------------------------------------------------------------------


def import_debian(docker):
    """local/debian:bookworm from `debootstrap --variant=minbase` (about a minute)."""
    with tempfile.TemporaryDirectory(prefix="e2e-debootstrap-") as folder:
        root = Path(folder) / "root"
        subprocess.run(
            [need("debootstrap", *SBIN), "--variant=minbase", "bookworm", root, debian_mirror()],
            check=True,
            capture_output=True,
            timeout=900,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / cache).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [DEBIAN_CLIENT, "import", "-", BASE_IMAGE],
            stdin=tar.stdout,
            env=docker.env,
            capture_output=True,
            timeout=600,
            check=False,
        )
        tar.stdout.close()
        tar.wait()
        if imported.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr}")


def build_stand_in(docker, folder, tag):
    """Build one tests/images/<folder> (the python one with this machine's CA certificates)."""
    with tempfile.TemporaryDirectory(prefix=f"e2e-image-{folder}-") as context:
        shutil.copytree(IMAGES / folder, context, dirs_exist_ok=True)
        if folder == "python":
            shutil.copytree(HOST_CA_CERTIFICATES, Path(context) / "certs")
        docker.run("build", "--quiet", "--tag", tag, context)


def stand_in_images(docker):
    """Make the base image if the cache lacks it, then build every stand-in (cached layers)."""
    if not docker.has_image(BASE_IMAGE):
        import_debian(docker)
    with ThreadPoolExecutor(len(STAND_INS)) as pool:
        builds = [pool.submit(build_stand_in, docker, *item) for item in STAND_INS.items()]
        for build in builds:
            build.result()


# Compose projects --------------------------------------------------------------------------


def container_ids(docker, project_name, *extra):
    """IDs of every container (running or not) of a compose project."""
    result = docker.run(
        "ps", "-aq", "--filter", f"label=com.docker.compose.project={project_name}", *extra
    )
    return result.stdout.split()


def inspect(docker, *ids):
    return json.loads(docker.run("inspect", *ids).stdout) if ids else []


def wait_for_compose(docker, project_name, seconds=300):
    """Wait until every container with a healthcheck is healthy and one-off ones exited 0.

    Raises at once when a container exits non-zero; at the deadline, with the logs of those
    not ready (an unhealthy one may still recover, as Docker keeps checking).
    """
    deadline = time.monotonic() + seconds
    while True:
        pending = []
        for container in inspect(docker, *container_ids(docker, project_name)):
            name, state = container["Name"].lstrip("/"), container["State"]
            health = state.get("Health", {}).get("Status")
            restart = container["HostConfig"]["RestartPolicy"]["Name"]
            exited = state["Status"] == "exited"
            if exited and state["ExitCode"] != 0:
                code = state["ExitCode"]
                raise RuntimeError(f"{name} exited with {code}:\n{logs(docker, name)}")
            if exited and restart in ("", "no"):
                continue  # a one-off service, such as migrate, that succeeded
            if state["Status"] != "running" or health not in (None, "healthy"):
                pending.append(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            report = "\n".join(f"--- {name}:\n{logs(docker, name)}" for name in pending)
            raise RuntimeError(f"not ready after {seconds} s: {', '.join(pending)}\n{report}")
        time.sleep(1)


def logs(docker, name):
    """The last lines a container wrote, and its health checks' output."""
    written = docker.run("logs", "--tail", "30", name, check=False)
    (found,) = inspect(docker, name)
    checks = found["State"].get("Health", {}).get("Log", [])[-2:]
    health = "".join(f"health check: {check['Output'][-500:]}\n" for check in checks)
    return f"{written.stdout}{written.stderr}{health}"


def compose_leftovers(docker, project_name):
    """Containers, volumes and networks a compose project still has on the daemon."""
    label = f"label=com.docker.compose.project={project_name}"
    found = [f"container {c}" for c in container_ids(docker, project_name)]
    for kind in ("volume", "network"):
        listed = docker.run(kind, "ls", "-q", "--filter", label).stdout.split()
        found += [f"{kind} {name}" for name in listed]
    return found


MAILPIT_MESSAGES = (
    "import urllib.request as u; "
    "print(u.urlopen('http://127.0.0.1:8025/api/v1/messages').read().decode())"
)


def mailpit_verification_link(run_python, address, seconds=60):
    """The verification link in the mail a stand-in Mailpit container received for `address`.

    `run_python(code)` runs Python code in the Mailpit container and returns what it printed.
    A job worker sends the mail, so it may take a moment to arrive.
    """
    deadline = time.monotonic() + seconds
    while True:
        listing = run_python(MAILPIT_MESSAGES)
        mails = [m for m in json.loads(listing)["messages"] if address in m["To"]]
        if mails or time.monotonic() > deadline:
            break
        time.sleep(1)
    (mail,) = mails
    text = email.message_from_string(mail["Text"], policy=email.policy.default)
    return re.search(r"https://\S+/auth/verify/\S+", text.get_body().get_content())[0]

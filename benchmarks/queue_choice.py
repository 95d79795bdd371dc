"""Which job queue: RQ or Dramatiq, side by side on Redis (Debian's redis-server, loopback).

    python3 benchmarks/queue_choice.py     (or benchmarks/run.py --queues; about 6 minutes)

For each library: the import it adds to a web process, the cost of enqueuing one mail job on
the request path beside today's thread (`send_later`), the idle worker's memory, jobs per
second through one worker, and what happens to a job whose worker is SIGKILLed mid-run.
Both libraries are installed for this benchmark only, into .cache/queue-choice/.
The jobs are the same for both: a no-op that counts itself in Redis, and a 3 s job that
notes its start and its end, so the kill lands in its middle.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from statistics import median

from baked import TEMPLATE
from measure import markdown

sys.path.insert(0, str(TEMPLATE / "tests"))
from conftest import ensure_venv  # noqa: E402
from servers.redis import redis  # noqa: E402

LIBRARIES = {"rq": "rq==2.12.0", "dramatiq": "dramatiq[redis]==2.2.1"}
JOBS = 500  # no-op jobs timed through one worker
KILL_WAIT = 150  # seconds to wait for a killed job to run again

# The same two jobs for each library, with its own decorator or none.
JOBS_MODULE = {
    "rq": """
        import os, time, redis
        r = redis.Redis.from_url(os.environ["REDIS_URL"])
        def count():
            r.incr("done")
        def slow():
            r.incr("slow:started"); time.sleep(3); r.incr("slow:done")
    """,
    "dramatiq": """
        import os, time, redis, dramatiq
        from dramatiq.brokers.redis import RedisBroker
        dramatiq.set_broker(RedisBroker(url=os.environ["REDIS_URL"]))
        r = redis.Redis.from_url(os.environ["REDIS_URL"])
        @dramatiq.actor
        def count():
            r.incr("done")
        @dramatiq.actor(min_backoff=1000)
        def slow():
            r.incr("slow:started"); time.sleep(3); r.incr("slow:done")
    """,
}
ENQUEUE = {  # statements that enqueue one job of `jobs`, after SETUP
    "rq": "queue.enqueue(jobs.count, retry=Retry(max=3))",
    "dramatiq": "jobs.count.send()",
}
SETUP = {
    "rq": "from redis import Redis; from rq import Queue, Retry; "
    "queue = Queue(connection=Redis.from_url(os.environ['REDIS_URL']))",
    "dramatiq": "",
}
WORKER = {
    # RQ with the template's settings (jobs/worker.py): a dead worker's job found sooner
    "rq": ["-m", "rq.cli", "worker", "--url", "{url}", "--with-scheduler"]
    + ["--worker-ttl", "25", "--maintenance-interval", "10", "--job-monitoring-interval", "10"],
    "dramatiq": ["-m", "dramatiq", "jobs", "--processes", "1", "--threads", "1"],
}
# Today's path: Flask-Mail's message handed to a daemon thread (auth/email.py's send_later).
THREAD = """
import threading
def deliver(message):
    pass
def enqueue():
    threading.Thread(target=deliver, args=(message,), daemon=True).start()
"""


def install():
    """A folder holding both libraries, for PYTHONPATH (installed once)."""
    path = TEMPLATE / ".cache" / "queue-choice"
    if not (path / "ready").exists():
        pip = ["python3", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--target", str(path), *LIBRARIES.values()], check=True)
        (path / "ready").touch()
    return path


def python_ms(python, env, code, runs=7):
    """Median wall time in ms of `code` in a fresh interpreter (the time it prints)."""
    times = []
    for _ in range(runs):
        out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        times.append(float(out.stdout))
    return median(times)


def import_ms(python, env, module):
    """What importing `module` adds to a process that has Flask and redis-py already."""
    code = f"import time, flask, redis; t = time.perf_counter(); import {module}; "
    code += "print((time.perf_counter() - t) * 1000)"
    return python_ms(python, env, code)


def enqueue_us(python, env, library):
    """Microseconds per enqueue of a mail-sized job, median of 2000 in one process."""
    message = (
        "from flask_mail import Message; "
        "message = Message('x', recipients=['a@example.com'], body='b' * 600, sender='n@l')"
    )
    if library == "thread":
        prep, one = f"{message}\n{THREAD}", "enqueue()"
    else:
        prep, one = f"import os, jobs\n{SETUP[library]}\n{message}", ENQUEUE[library]
    code = f"""
import time
{prep}
times = []
for _ in range(2000):
    t = time.perf_counter(); {one}; times.append(time.perf_counter() - t)
times.sort()
print(times[len(times) // 2] * 1e6)
"""
    return python_ms(python, env, code, runs=3)


def family(pid):
    """A process and its descendants (RQ's work horse runs in a session of its own)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [pid, *(p for child in children.stdout.split() for p in family(int(child)))]


def kill_all(pid):
    """SIGKILL a process and all its descendants, as the OOM killer or `docker kill` does."""
    for p in family(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def rss_mb(pid):
    """Resident memory of a process and its children, in MB."""
    pids = family(pid)
    total = 0
    for p in pids:
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


@contextlib.contextmanager
def worker(python, env, library, url, log):
    command = [python, *(arg.format(url=url) for arg in WORKER[library])]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        kill_all(process.pid)
        process.wait()


def wait_for(server, key, count, seconds):
    """Seconds until Redis key `key` reaches `count`, or None after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if int(server.cli("GET", key) or 0) >= count:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def enqueue_many(python, env, library, count, job="count"):
    code = f"import os, jobs\n{SETUP[library]}\n"
    one = ENQUEUE[library].replace("count", job)
    code += f"for _ in range({count}):\n    {one}\n"
    subprocess.run([python, "-c", code], env=env, check=True)


def measure(python, env, library, folder):
    """Worker memory, jobs per second and the fate of a killed job, on a Redis of its own."""
    with redis() as server, open(folder / f"{library}.log", "w") as log:
        env = {**env, "REDIS_URL": server.uri}
        with worker(python, env, library, server.uri, log) as process:
            enqueue_many(python, env, library, 1)
            assert wait_for(server, "done", 1, 30) is not None, "the worker ran no job"
            time.sleep(2)
            rss = rss_mb(process.pid)
            start = time.monotonic()
            enqueue_many(python, env, library, JOBS)
            assert wait_for(server, "done", JOBS + 1, 120) is not None, "jobs left undone"
            rate = JOBS / (time.monotonic() - start)
            enqueue_many(python, env, library, 1, job="slow")
            assert wait_for(server, "slow:started", 1, 30) is not None
            time.sleep(1)
            kill_all(process.pid)
        with worker(python, env, library, server.uri, log):
            again = wait_for(server, "slow:done", 1, KILL_WAIT)
    if again is None:
        fate = f"lost (not run again within {KILL_WAIT} s of the restart)"
    else:
        fate = f"run again {again:.0f} s after the restart"
    return rss, rate, fate


def template_lines():
    """Lines of the template's jobs package (RQ), blank lines and comments included."""
    package = TEMPLATE / "{{cookiecutter.project_slug}}" / "{{cookiecutter.project_slug}}" / "jobs"
    return sum(len(path.read_text().splitlines()) for path in package.glob("*.py"))


def run():
    """The table, and a line on the code the template carries for the chosen library."""
    python = str(ensure_venv())
    target = install()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
        thread_env = {**env, "PYTHONPATH": str(folder)}
        thread = enqueue_us(python, thread_env, "thread")
        for library in LIBRARIES:
            jobs_dir = folder / library
            jobs_dir.mkdir()
            (jobs_dir / "jobs.py").write_text(textwrap.dedent(JOBS_MODULE[library]))
            lib_env = {**env, "PYTHONPATH": f"{jobs_dir}{os.pathsep}{target}"}
            imported = import_ms(python, lib_env, library)
            with redis() as server:
                enqueue = enqueue_us(python, {**lib_env, "REDIS_URL": server.uri}, library)
            rss, rate, fate = measure(python, lib_env, library, folder)
            rows.append((
                library, f"{imported:.0f} ms", f"{enqueue:.0f} µs (thread: {thread:.0f} µs)",
                f"{rss:.0f} MB", f"{rate:.0f} jobs/s", fate,
            ))  # fmt: skip
    header = ("library", "import", "enqueue a mail", "idle worker RSS", "1 worker")
    header += ("SIGKILL mid-job",)
    note = f"Template code for RQ (the jobs/ package): {template_lines()} lines."
    return f"{markdown(header, rows)}\n\n{note}"


if __name__ == "__main__":
    print(run())

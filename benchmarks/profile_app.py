"""Where the baked app's request time goes, and what an anonymous page view touches.

py-spy samples the Gunicorn workers from outside (nothing is added to the app's venv) while wrk
loads one page. Only samples holding the GIL count: Python's own work, not the time a worker
waits for a CPU or in a socket call. Each sample is charged to the innermost component on its
stack, so the shares add up to 100%. audit_request.py then lists the SQL, cookies and file
reads of one page view.
"""

import json
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from baked import scratch_project
from measure import markdown
from serving import PAGES, gunicorn

BENCHMARKS = Path(__file__).resolve().parent
FRAME_PATH = re.compile(r"\((.+):\d+\)$")

# Where a frame's file lives -> the component it belongs to; the first match wins.
COMPONENTS = [
    ("flask/sessions.py", "session cookie"),
    ("itsdangerous/", "session cookie"),
    ("werkzeug/routing/", "URL matching and url_for"),
    ("flask_wtf/", "Flask-WTF (CSRF token)"),
    ("wtforms/", "WTForms fields"),
    ("flask_limiter/", "Flask-Limiter"),
    ("limits/", "Flask-Limiter"),
    ("flask_login/", "Flask-Login"),
    ("flask_sqlalchemy/", "SQLAlchemy"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("jinja2/", "Jinja templates"),
    ("flask/", "Flask and Werkzeug (request, response)"),
    ("werkzeug/", "Flask and Werkzeug (request, response)"),
    ("gunicorn/", "Gunicorn (accept, parse, log, close)"),
]


def component(path, package):
    if path.endswith(".html"):
        return "Jinja templates"
    if path.startswith(f"{package}/"):
        return "the app's own code"
    return next((name for prefix, name in COMPONENTS if path.startswith(prefix)), None)


def charge(raw, package):
    """Busy samples per component, from py-spy's raw (collapsed stack) output."""
    counts = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # seen once: a stack cut short; one sample among thousands
            continue
        for frame in reversed(stack.split(";")):
            match = FRAME_PATH.search(frame)
            name = match and component(match[1], package)
            if name:
                break
        counts[name or "other"] += int(count)
    return counts


def py_spy():
    beside = Path(sys.executable).parent / "py-spy"  # a pyenv shim on PATH may pick another Python
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        sys.exit("--profile needs py-spy: pip install -r requirements-test.txt")
    return found


def sample(master, url, seconds, out):
    """Record the workers of `master` while wrk loads `url`."""
    load = threading.Thread(
        target=subprocess.run,
        daemon=True,
        args=(["wrk", "-t1", "-c4", f"-d{seconds + 2}s", url],),
        kwargs={"capture_output": True, "timeout": seconds + 30},
    )
    load.start()
    options = f"--pid {master} --subprocesses --nonblocking --gil --rate 250 --duration {seconds}"
    command = [py_spy(), "record", *options.split(), "--format", "raw", "--output", out]
    subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
    load.join()
    return Path(out).read_text()


def audit(python, project, env):
    command = [python, BENCHMARKS / "audit_request.py", project.name, *PAGES]
    out = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout)


def time_table(samples):
    """Each component's share of the samples, per page; largest first for the first page."""
    first = samples[PAGES[0]]
    names = sorted(set().union(*samples.values()), key=lambda name: -first[name])
    lines = [
        (name, *(f"{100 * samples[page][name] / samples[page].total():.0f}%" for page in PAGES))
        for name in names
    ]
    lines.append(("(samples)", *(samples[page].total() for page in PAGES)))
    header = ("share of the workers' Python time", *(f"GET {page}" for page in PAGES))
    return markdown(header, lines)


def audit_table(audited):
    """What each page view touched."""
    header = ("anonymous view", "status", "SQL statements", "sets a cookie", "files opened")
    lines = [
        (page, seen["status"], len(seen["sql"]), "yes" if seen["sets_cookie"] else "no",
         ", ".join(seen["opened"]) or "none")
        for page, seen in audited.items()
    ]  # fmt: skip
    return markdown(header, lines)


def run(seconds):
    """Two Markdown tables: where worker time goes per page, and what each page view touches."""
    with scratch_project("bench-profile-") as baked:
        scratch, python, project, env = baked.folder, baked.python, baked.project, baked.env
        samples = {}
        with gunicorn(python, project, env, scratch / "gunicorn.log") as (url, master):
            for n, page in enumerate(PAGES):
                raw = sample(master, url + page, seconds, scratch / f"raw-{n}")
                samples[page] = charge(raw, project.name)
        audited = audit(python, project, env)
    return f"{time_table(samples)}\n\n{audit_table(audited)}"

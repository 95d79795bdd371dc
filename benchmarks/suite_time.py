"""Template suite: wall time of the README's test command (its target: 25 min; the README
states the last measured figure) and of the fast tier before a commit.

Slow, and it loads both cores, so run.py runs it only when asked (--suite), once, after the rest.
"""

import subprocess
import sys
import time

from baked import TEMPLATE
from measure import Row

WHOLE = [sys.executable, "-m", "pytest", "-n", "2", "-q"]  # the README's test command
# No real servers (PostgreSQL, Gunicorn, nginx, Chromium, Docker), one baked project's suite.
FAST = [*WHOLE, "-m", "not e2e and not slow"]
TIMEOUT = 30 * 60


def wall_time(command):
    """Seconds the command took, and whether it passed."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=TEMPLATE, capture_output=True, text=True, timeout=TIMEOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-3000:], file=sys.stderr)
    return seconds, done.returncode == 0


def label(name, passed):
    return name if passed else f"{name} (FAILED)"


def run():
    fast, fast_passed = wall_time(FAST)
    whole, whole_passed = wall_time(WHOLE)
    return [
        Row(label("suite: fast tier (README)", fast_passed), fast, "s", target="<= 45"),
        Row(label("suite: whole, pytest -n 2", whole_passed), whole, "s", target="<= 1500"),
    ]

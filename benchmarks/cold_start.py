"""Cold start: import the baked package and create_app() in a fresh process, against bare Flask.

Timed inside each process, so the interpreter's own start-up (the same for both) does not dilute
the ratio. A Gunicorn worker, a `flask` command and each test process pay this cost.
"""

import subprocess
from statistics import median

from baked import scratch_project
from measure import Row

TIMED = "import time\nstart = time.perf_counter()\n{code}\nprint(time.perf_counter() - start)"
BARE = "from flask import Flask\nFlask(__name__)"
APP = "from {package} import create_app\ncreate_app()"
# What any app on the SQLAlchemy ORM pays before a line of its own: the limit of this stack.
ORM = "from flask import Flask\nimport sqlalchemy.orm\nFlask(__name__)"
# Every module create_app() loads, less the app's own, listed in the order they were first
# imported: what the app's dependencies cost before the app's code and create_app() add theirs.
LOADED = (
    "import sys\nfrom {package} import create_app\ncreate_app()\n"
    "own = ('{package}', '__main__')\n"
    "print(' '.join(name for name in sys.modules if name.split('.')[0] not in own))"
)
DEPENDENCIES = "import importlib\nfor name in {names!r}:\n    importlib.import_module(name)"


def output(python, project, env, code):
    command = [python, "-c", code]
    out = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.splitlines()[-1]  # the app logs to stdout in production too


def seconds(python, project, env, code):
    return float(output(python, project, env, TIMED.format(code=code)))


def run(rounds):
    with scratch_project("bench-start-") as baked:
        python, project, env = baked.python, baked.project, baked.env
        names = output(python, project, env, LOADED.format(package=project.name)).split()
        codes = {"app": APP.format(package=project.name), "bare": BARE, "orm": ORM}
        codes["dependencies"] = DEPENDENCIES.format(names=names)
        times = {name: [] for name in codes}
        for n in range(2 * rounds + 1):  # interleaved; the first writes bytecode and is dropped
            for name, code in codes.items():
                took = seconds(python, project, env, code)
                if n:
                    times[name].append(took)
    app, bare, orm, dependencies = (median(times[name]) * 1000 for name in codes)
    floor_label = "import flask + Flask()"
    return [
        Row("cold start: import + create_app()", app, "ms", bare, floor_label, "<= 2.5x"),
        Row("cold start floor: import flask + SQLAlchemy ORM", orm, "ms", bare, floor_label),
        Row("cold start floor: import its dependencies", dependencies, "ms", bare, floor_label),
    ]

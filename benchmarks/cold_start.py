"""Cold start: import the baked package and create_app() in a fresh process, against bare Flask.

Timed inside each process, so the interpreter's own start-up (the same for both) does not dilute
the ratio. A Gunicorn worker, a `flask` command and each test process pay this cost.
"""

import subprocess
import tempfile
from pathlib import Path

from baked import bake, production_env, venv_python
from measure import Row, median

TIMED = "import time\nstart = time.perf_counter()\n{code}\nprint(time.perf_counter() - start)"
BARE = "from flask import Flask\nFlask(__name__)"
APP = "from {package} import create_app\ncreate_app()"


def seconds(python, project, env, code):
    command = [python, "-c", TIMED.format(code=code)]
    out = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    return float(out.stdout)


def run(rounds):
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        scratch = Path(tmp)
        python = venv_python(scratch)
        project = bake(scratch / "app")
        env = production_env()
        app_code = APP.format(package=project.name)
        times = {"app": [], "bare": []}
        for n in range(2 * rounds + 1):  # interleaved; the first writes bytecode and is dropped
            app, bare = seconds(python, project, env, app_code), seconds(python, project, env, BARE)
            if n:
                times["app"].append(app)
                times["bare"].append(bare)
    return [
        Row("cold start: import + create_app()", median(times["app"]) * 1000, "ms",
            median(times["bare"]) * 1000, "import flask + Flask()", "<= 2x"),
    ]  # fmt: skip

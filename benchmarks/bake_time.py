"""Bake time: this template against a one-file template with no hooks, the floor of cookiecutter.

The CLI is timed as a whole process (imports included: that is what a user waits for), with a
temporary HOME so no user config is read and replay files land in the temporary folder. The API
bake is timed inside one warm process, as the template's own tests bake.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from baked import TEMPLATE
from measure import Row


def floor_template(root):
    """The smallest template cookiecutter accepts: one variable, one file, no hooks."""
    template = root / "floor-template"
    project = template / "{{cookiecutter.project_slug}}"
    project.mkdir(parents=True)
    (template / "cookiecutter.json").write_text('{"project_slug": "floor"}\n')
    (project / "README.md").write_text("# {{ cookiecutter.project_slug }}\n")
    return template


def cli_bake(template, output, env):
    """Seconds for one `cookiecutter --no-input` process."""
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", output, template]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - start


def api_bakes(template, output, env, rounds):
    """Seconds per bake of cookiecutter's API in one process, after a warm-up bake."""
    command = [sys.executable, __file__, template, output, str(rounds)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(done.stdout.splitlines()[-1])  # the hooks print above it


def run(rounds):
    with tempfile.TemporaryDirectory(prefix="bench-bake-") as tmp:
        root = Path(tmp)
        floor_path = floor_template(root)
        env = {**os.environ, "HOME": str(root / "home")}
        (root / "home").mkdir()
        cli = {"template": [], "floor": []}
        for n in range(rounds + 1):  # interleaved; round 0 warms caches and is dropped
            for name, template in (("floor", floor_path), ("template", TEMPLATE)):
                seconds = cli_bake(template, root / f"cli-{name}-{n}", env)
                if n:
                    cli[name].append(seconds)
        api_template = api_bakes(TEMPLATE, root / "api-template", env, rounds)
        api_floor = api_bakes(floor_path, root / "api-floor", env, rounds)
    label = "one-file template"
    return [
        Row("bake: CLI, defaults", ms(cli["template"]), "ms", ms(cli["floor"]), label, "<= 1.3x"),
        Row("bake: API in process", ms(api_template), "ms", ms(api_floor), label),
    ]


def ms(seconds):
    """The median, in milliseconds."""
    return median(seconds) * 1000


def time_api_bakes(template, output, rounds):
    from cookiecutter.main import cookiecutter

    timings = []
    for n in range(rounds + 1):
        start = time.perf_counter()
        cookiecutter(template, no_input=True, output_dir=f"{output}/{n}")
        timings.append(time.perf_counter() - start)
    return timings[1:]


if __name__ == "__main__":
    # Child process of api_bakes: cookiecutter reads HOME when it is imported, so import it here.
    template, output, rounds = sys.argv[1:]
    print(json.dumps(time_api_bakes(template, output, int(rounds))))

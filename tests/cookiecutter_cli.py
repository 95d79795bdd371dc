"""Run the real `cookiecutter` command on this template, as a user would, in a sandbox.

The command gets its own HOME, config file, replay folder and template clones (so the user's
are neither read nor written) and its own TMPDIR (cookiecutter leaves the rendered hook
scripts there), all inside `home`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE


def sandbox(home):
    """Environment variables that keep cookiecutter (and cruft) inside `home`."""
    home = Path(home)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    config = home / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'templates'))}\n"
        f"replay_dir: {json.dumps(str(replay_file(home).parent))}\n"
    )
    return {"HOME": str(home), "TMPDIR": str(home / "tmp"), "COOKIECUTTER_CONFIG": str(config)}


def cookiecutter_cli(home, *options, **answers):
    """`cookiecutter OPTIONS TEMPLATE key=value...`; returns the CompletedProcess (text)."""
    env = {**os.environ, **sandbox(home), "NO_COLOR": "1"}
    extra = [f"{name}={value}" for name, value in answers.items()]
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", *options, str(TEMPLATE), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def replay_file(home):
    """The answers cookiecutter saved for this template under `home`."""
    return Path(home) / ".cookiecutter_replay" / f"{TEMPLATE.name}.json"


def leftovers(folder):
    """Every path under `folder`, relative to it: what a refused bake left behind."""
    folder = Path(folder)
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))

"""Run the real `cookiecutter` command on this template, as a user would, in a sandbox.

The command gets its own HOME (so its config and replay folder are fresh) and its own TMPDIR
(cookiecutter leaves the rendered hook scripts there), both inside `home`.
"""

import os
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE


def cookiecutter_cli(home, *options, **answers):
    """`cookiecutter OPTIONS TEMPLATE key=value...`; returns the CompletedProcess (text)."""
    home = Path(home)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home / "tmp"), "NO_COLOR": "1"}
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

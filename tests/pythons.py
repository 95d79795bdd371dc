"""The Pythons a bake offers (`python_version`), found on this machine as a user would have them.

pyenv's shims answer only for a selected version (`python3.12` refuses unless 3.12 is chosen),
so an interpreter is looked for in pyenv's own versions folder first, then on PATH, and each
candidate is asked its version before it is used.
"""

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from conftest import TEMPLATE, clean_env

OFFERED = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]


def pyenv_versions():
    """pyenv's versions folder, or None when pyenv is not installed."""
    root = os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv"
    folder = Path(root) / "versions"
    return folder if folder.is_dir() else None


def patch_level(path):
    """The numbers of a pyenv version folder such as 3.12.1, for sorting (3.12.10 > 3.12.9)."""
    return [int(part) for part in re.findall(r"\d+", path.parts[-3])]


def answers_as(python, version):
    """True when the program at `python` runs and is Python `version` (e.g. "3.12")."""
    try:
        said = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return False
    return said.returncode == 0 and said.stdout.strip() == version


@functools.cache
def interpreter(version):
    """The newest Python `version` ("3.12") on this machine, as a path, or None."""
    candidates = []
    versions = pyenv_versions()
    if versions:
        found = versions.glob(f"{version}.*/bin/python{version}")
        candidates += sorted(found, key=patch_level, reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    return next((path for path in candidates if answers_as(path, version)), None)


def missing_reason(version):
    return (
        f"Python {version} is not installed here (not in pyenv's versions, nor python{version} "
        "on PATH): install it, e.g. `pyenv install " + version + "`"
    )


def user_env(python, **extra):
    """A baked project's environment for a user who has this Python first on PATH: uv finds
    it for `.python-version` (and never downloads one), and `python3` is that Python."""
    from uv import find_uv_bin

    uv_folder = Path(find_uv_bin()).parent
    path = os.pathsep.join([str(python.parent), str(uv_folder), os.environ["PATH"]])
    env = clean_env(PATH=path, UV_PYTHON_DOWNLOADS="never", **extra)
    for name in ("VIRTUAL_ENV", "UV_PYTHON", "PYENV_VERSION"):
        env.pop(name, None)
    return env

"""Regenerate the uv lockfiles the template ships, one per set of options that changes the deps.

A bake must not need the network, so the template carries a finished `uv.lock` for every
variant of the options listed in LOCK_OPTIONS, in `{{cookiecutter.project_slug}}/locks/`, named
`<option>=<value>[,<option>=<value>...].lock`. Each is made here by `uv lock` in a real bake
named my_flask_app 0.1.0; the post-gen hook moves the one that fits the answers to `uv.lock`
and writes the project's own name and version into its entry. Beside each lock goes the same
versions as pip constraints (`<variant>.txt`, made by EXPORT from the lock), which the hook moves
to `constraints.txt`: `pip install -c constraints.txt -e . --group dev` installs what uv would.

Run it after changing the dependencies in the template's pyproject.toml:

    python3 scripts/relock.py            # keep the locked versions, add and drop what changed
    python3 scripts/relock.py --upgrade  # move every package to its newest allowed version

It needs cookiecutter and uv (`pip install cookiecutter uv`) and reaches PyPI.
"""

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
LOCKS = TEMPLATE / "{{cookiecutter.project_slug}}" / "locks"

# The options whose answers change the baked pyproject.toml's dependencies, with every value.
LOCK_OPTIONS = {
    "database": ["sqlite", "postgresql"],
    "use_api": [True, False],
}

# The baked project's pip constraints: uv.lock's versions, for every platform and Python, without
# the project itself (pip installs it from `.`) and without `# via` lines (they name the project).
CONSTRAINTS = "constraints.txt"
EXPORT = ["export", "--frozen", "--no-hashes", "--no-emit-project", "--no-annotate"]

# The name and version every lock is made under; the hook anchors on them (LOCKED_PROJECT).
BAKE_AS = {"project_slug": "my_flask_app", "version": "0.1.0"}


def variants():
    """Every combination of the values in LOCK_OPTIONS, as answers."""
    names = list(LOCK_OPTIONS)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*LOCK_OPTIONS.values())
    ]


def lock_name(answers):
    """The file name of a variant's lock, e.g. `database=postgresql.lock`."""
    return ",".join(f"{name}={str(value).lower()}" for name, value in answers.items()) + ".lock"


def constraints_name(answers):
    """The file name of a variant's pip constraints, e.g. `database=postgresql.txt`."""
    return lock_name(answers).removesuffix(".lock") + ".txt"


def uv_command():
    """uv from its PyPI package when installed, else from PATH.

    The package's own binary comes first: a pyenv shim for `uv` would pick its Python from
    the bake's .python-version, which may not have uv.
    """
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            sys.exit("error: uv is not installed (pip install uv)")
        return found


def uv_env():
    """Resolve with this interpreter and never download one: the lock is the same for all."""
    return {**os.environ, "UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never"}


def bake(answers, output):
    """A bake with the hooks off: pyproject.toml is all `uv lock` reads, and the hook would
    want a lock for this variant, which may not exist yet."""
    from cookiecutter.main import cookiecutter

    path = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(output),
        accept_hooks=False,
        extra_context={**BAKE_AS, **answers},
    )
    return Path(path)


def export(project):
    """The pip constraints of the project's uv.lock, as the baked project's own command makes
    them (`uv export ... -o constraints.txt`, which its header names)."""
    done = subprocess.run(
        [uv_command(), *EXPORT, "--quiet", "-o", CONSTRAINTS],
        cwd=project,
        env=uv_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        sys.exit(f"error: uv export failed in {project}:\n{done.stderr}")
    return (project / CONSTRAINTS).read_text()


def relock(answers, seed, upgrade, workdir):
    """Lock one variant in a fresh bake; returns the new lock's text and its constraints.

    `seed` is the lock uv starts from (its pins are kept unless `upgrade`), or None.
    """
    project = bake(answers, workdir)
    if seed is not None:
        shutil.copyfile(seed, project / "uv.lock")
    command = [uv_command(), "lock", "--quiet", *(["--upgrade"] if upgrade else [])]
    done = subprocess.run(
        command, cwd=project, env=uv_env(), capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        sys.exit(f"error: uv lock failed for {lock_name(answers)}:\n{done.stderr}")
    return (project / "uv.lock").read_text(), export(project)


def write(path, text):
    """Write the file; "updated" or "unchanged"."""
    changed = not path.exists() or path.read_text() != text
    path.write_text(text)
    return "updated" if changed else "unchanged"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--upgrade", action="store_true", help="newest allowed versions of every package"
    )
    args = parser.parse_args()
    LOCKS.mkdir(exist_ok=True)
    wanted = {lock_name(answers): answers for answers in variants()}
    first = None  # a variant with no lock yet starts from the first one's, so versions agree
    with tempfile.TemporaryDirectory(prefix="relock-") as tmp:
        for index, (name, answers) in enumerate(wanted.items()):
            start = time.perf_counter()
            path = LOCKS / name
            seed = path if path.exists() else first
            text, constraints = relock(answers, seed, args.upgrade, Path(tmp) / str(index))
            state = write(path, text)
            first = first or path
            print(f"{name}: {state} ({time.perf_counter() - start:.1f} s)")
            other = constraints_name(answers)
            print(f"{other}: {write(LOCKS / other, constraints)}")
    wanted |= {constraints_name(answers): answers for answers in variants()}
    for stale in sorted(set(p.name for p in LOCKS.glob("*")) - set(wanted)):
        (LOCKS / stale).unlink()
        print(f"{stale}: removed (no such variant)")


if __name__ == "__main__":
    main()

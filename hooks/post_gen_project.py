"""Finish the baked project: prune files of options not chosen, put the uv lockfile in place,
write .env, print next steps.

Secrets are made here at run time with `secrets`, never rendered into this file: cookiecutter
leaves the rendered hook in a temporary folder and saves the answers in its replay file.
"""

import json
import os
import re
import secrets
import shlex
import shutil
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# prometheus.yml: the compose profile's scrape settings (alerts.yml serves every deployment).
DOCKER_FILES = [
    "Dockerfile",
    ".dockerignore",
    "compose.yaml",
    "compose.prod.yaml",
    "docs/docker.md",
    "prometheus/prometheus.yml",
]
# Swarm spreads replicas over machines, which cannot share an SQLite file: PostgreSQL only.
SWARM_FILES = ["compose.swarm.yaml", "docs/swarm.md"]
NGINX_FILES = ["nginx", "deploy", "docs/systemd.md", "docs/certificates.md"]
KUBERNETES_FILES = ["k8s", "docs/kubernetes.md"]
# The production overlay's secrets: kustomize makes the Kubernetes Secret from this file.
KUBERNETES_ENV = Path("k8s", "overlays", "production", ".env")

# The API's package, tests and migration. Without its migration (kept, it would make a table
# no model describes), the one after it follows the one before it.
API_FILES = [
    "{slug}/api",
    "migrations/versions/0003_create_api_token.py",
    "tests/test_api.py",
    "tests/test_api_admin.py",
    "tests/test_api_schema.py",
    "tests/test_api_docs.py",
    "docs/api.md",
]
AFTER_API_MIGRATION = Path("migrations", "versions", "0004_ascii_email_local_parts.py")

# scripts/relock.py makes every lock in locks/ from a bake named my_flask_app 0.1.0; only this
# entry, the project's own, differs from one bake to another.
LOCKED_PROJECT = 'name = "my-flask-app"\nversion = "0.1.0"\nsource = { editable = "." }\n'


def remove(path):
    """Delete a file or a folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def prune(project, answers):
    """Remove the files of disabled options and move the chosen licence into LICENSE."""
    # The Swarm stack runs the nginx site in front, and replicas need a shared database.
    swarm = answers["use_docker"] and answers["use_nginx"] and answers["database"] == "postgresql"
    if not swarm:
        for name in SWARM_FILES:
            remove(project / name)
    if not answers["use_docker"]:
        for name in DOCKER_FILES:
            remove(project / name)
    if not answers["use_nginx"]:
        for name in NGINX_FILES:
            remove(project / name)
    if not answers["use_kubernetes"]:
        for name in KUBERNETES_FILES:
            remove(project / name)
    if not answers["use_api"]:
        for name in API_FILES:
            remove(project / name.format(slug=answers["project_slug"]))
        after = project / AFTER_API_MIGRATION
        text = after.read_text(encoding="utf-8").replace("Revises: 0003", "Revises: 0002")
        text = re.sub(r'down_revision = "0003".*', 'down_revision = "0002"', text)
        after.write_text(text, encoding="utf-8")
    if answers["database"] != "postgresql":
        remove(project / "docs" / "postgresql.md")
        remove(project / answers["project_slug"] / "postgres.py")
    if answers["database"] != "postgresql" or not answers["use_docker"]:
        remove(project / "bin" / "pg-backup.sh")  # the Compose and Swarm backup service's
    licence = answers["open_source_license"]
    if licence != "none":
        (project / "licenses" / f"{licence}.txt").replace(project / "LICENSE")
    remove(project / "licenses")


def lock_fits(name, answers):
    """True when a lock named like `database=sqlite,use_api=true` was made for these answers."""
    pairs = (pair.split("=", 1) for pair in name.split(","))
    return all(str(answers.get(option)).lower() == value for option, value in pairs)


def install_lock(project, answers):
    """Move the lock made for the chosen options to uv.lock, under the project's own name, and
    its pip constraints (the same versions, made by scripts/relock.py) to constraints.txt.

    The lock is ready-made so a bake needs no network; uv normalizes the name (my_app: my-app).
    The constraints do not name the project, so they move as they are.
    """
    folder = project / "locks"
    fitting = [path for path in folder.glob("*.lock") if lock_fits(path.stem, answers)]
    if len(fitting) != 1:
        raise SystemExit(f"error: the template has {len(fitting)} lockfiles for these answers")
    text = fitting[0].read_text()
    if LOCKED_PROJECT not in text:
        raise SystemExit(f"error: {fitting[0].name} has no entry for the project")
    name = re.sub(r"[-_.]+", "-", answers["project_slug"])
    entry = LOCKED_PROJECT.replace("my-flask-app", name).replace("0.1.0", answers["version"])
    (project / "uv.lock").write_text(text.replace(LOCKED_PROJECT, entry, 1))
    fitting[0].with_suffix(".txt").replace(project / "constraints.txt")
    remove(folder)


def env_lines(answers):
    """The settings of a local development run, with fresh secrets.

    Plain KEY=value lines with no quotes, so `docker run --env-file` reads them too.
    """
    slug = answers["project_slug"]
    lines = [
        "APP_CONFIG=development",
        "FLASK_DEBUG=1",
        f"SECRET_KEY={secrets.token_hex(32)}",
    ]
    if answers["database"] == "postgresql":
        password = secrets.token_hex(16)
        lines += [
            f"POSTGRES_USER={slug}",
            f"POSTGRES_PASSWORD={password}",
            f"POSTGRES_DB={slug}",
            f"DATABASE_URL=postgresql+psycopg://{slug}:{password}@localhost:5432/{slug}",
        ]
    else:
        lines.append(f"DATABASE_URL=sqlite:///{slug}.sqlite")
    return lines


def write_private(path, text):
    """Create a file readable by its owner alone; an existing one is kept as it is.

    Re-baking with --overwrite-if-exists runs this hook again: the user's secret must survive.
    Returns True when a new file was written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as private_file:
        private_file.write(text)
    return True


DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def read_env(path):
    """The KEY=value settings of an existing .env, as a dict."""
    settings = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not key.startswith("#"):
            settings[key.strip()] = value.strip()
    return settings


def env_mismatches(existing, answers):
    """What a kept .env lacks for these answers: (notes, lines to add or replace)."""
    fresh = dict(line.split("=", 1) for line in env_lines(answers))
    notes, keys = [], [key for key in fresh if key not in existing]
    url = existing.get("DATABASE_URL", "")
    have = next((name for name in DATABASE_NAMES if url.startswith(name)), None)
    chosen = answers["database"]
    if have and have != chosen:
        notes.append(
            f"DATABASE_URL is {DATABASE_NAMES[have]} but you chose {DATABASE_NAMES[chosen]}"
        )
        keys.append("DATABASE_URL")
        unused = [key for key in existing if key.startswith("POSTGRES_") and key not in fresh]
        if unused:
            notes.append(f"{', '.join(unused)} no longer used")
    if keys:
        notes.append(f"missing or outdated: {', '.join(key for key in fresh if key in keys)}")
    return notes, [f"{key}={value}" for key, value in fresh.items() if key in keys]


def kept_env_advice(env, answers):
    """For a kept .env that does not fit the answers: what differs and the lines to add."""
    notes, lines = env_mismatches(read_env(env), answers)
    if not notes:
        return []
    return [
        "It does not match your answers: " + "; ".join(notes) + ".",
        "Add or replace these lines in it to use what you chose (passwords are new):",
        *(f"  {line}" for line in lines),
    ]


def env_note(project, answers, wrote_env):
    """What happened to .env; for a kept one, the settings that no longer fit the answers."""
    if wrote_env:
        return "Wrote .env with a new SECRET_KEY (keep it out of version control)."
    kept = "Kept your existing .env: its SECRET_KEY and settings are unchanged."
    return "\n".join([kept, *kept_env_advice(project / ".env", answers)])


def write_env(project, answers):
    """Write .env with the settings of a local development run; True when it is new."""
    return write_private(project / ".env", "\n".join(env_lines(answers)) + "\n")


def write_kubernetes_env(project):
    """The production overlay's .env: its example, with a SECRET_KEY of its own.

    Production gets a different key from development's, so a leaked laptop .env cannot
    forge production sessions. The database and Redis URLs stay for the user to fill in.
    """
    example = (project / KUBERNETES_ENV.with_name(".env.example")).read_text()
    text = example.replace("SECRET_KEY=change-me", f"SECRET_KEY={secrets.token_hex(32)}")
    write_private(project / KUBERNETES_ENV, text)


def next_steps(project, answers, wrote_env):
    """Short instructions a user can paste into a shell: the README's uv path first."""
    steps = [f"cd {shlex.quote(str(project))}", "uv sync"]
    if answers["database"] == "postgresql":
        steps.append("# create the database first: docs/postgresql.md")
    steps += ["uv run flask db upgrade", "uv run flask run", "uv run pytest"]
    steps.append(
        "# without uv: README.md, 'Set up' (pip install -c constraints.txt -e . --group dev"
        " in a venv, then the same commands without 'uv run')"
    )
    if answers["use_kubernetes"]:
        steps.append(
            f"# Kubernetes: fill in the URLs in {KUBERNETES_ENV}, then docs/kubernetes.md"
        )
    note = env_note(project, answers, wrote_env)
    return "\n".join([note, "Next steps:", *(f"  {step}" for step in steps)])


def project_cruft_updates(project, answers):
    """The user's project when `cruft update` runs this bake, else None.

    cruft bakes the template afresh in temporary folders and merges their difference into the
    project, keeping the project's .env (`[tool.cruft] skip`). The project is the folder cruft
    was started in (its default `--project-dir .`), which the shell's PWD names (cookiecutter
    changes the working directory while hooks run). It counts only with a .cruft.json of this
    template and a .env, and not when this bake is a new project below it.
    """
    folder = Path(os.environ.get("PWD") or ".")
    if not folder.is_absolute() or project.resolve().is_relative_to(folder.resolve()):
        return None
    try:
        template = json.loads((folder / ".cruft.json").read_text())["template"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if template == answers["_template"] and (folder / ".env").is_file():
        return folder
    return None


def cruft_update_note(updated, answers):
    """Under `cruft update`: the settings the project's kept .env lacks for these answers."""
    advice = kept_env_advice(updated / ".env", answers)
    return "\n".join([f"Your .env ({updated / '.env'}) was kept.", *advice]) if advice else None


def main():
    project = Path.cwd()
    prune(project, ANSWERS)
    install_lock(project, ANSWERS)
    wrote_env = write_env(project, ANSWERS)
    if ANSWERS["use_kubernetes"]:
        write_kubernetes_env(project)
    updated = project_cruft_updates(project, ANSWERS)
    if updated is None:
        print(next_steps(project, ANSWERS, wrote_env))
    elif note := cruft_update_note(updated, ANSWERS):
        print(note)  # this bake's own .env and next steps are cruft's scratch: say nothing


if __name__ == "__main__":
    main()

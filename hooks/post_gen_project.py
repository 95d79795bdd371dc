"""Finish the baked project: prune files of options not chosen, write .env, print next steps.

Secrets are made here at run time with `secrets`, never rendered into this file: cookiecutter
leaves the rendered hook in a temporary folder and saves the answers in its replay file.
"""

import json
import os
import secrets
import shlex
import shutil
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

DOCKER_FILES = ["Dockerfile", ".dockerignore", "compose.yaml", "compose.prod.yaml"]
NGINX_FILES = ["nginx", "deploy"]
# The API's package, tests and migration. Its migration is the newest in the chain, so the
# chain stays whole without it; kept, it would make a table no model describes.
API_FILES = [
    "{slug}/api",
    "migrations/versions/0003_create_api_token.py",
    "tests/test_api.py",
    "tests/test_api_schema.py",
]


def remove(path):
    """Delete a file or a folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def prune(project, answers):
    """Remove the files of disabled options and move the chosen licence into LICENSE."""
    if not answers["use_docker"]:
        for name in DOCKER_FILES:
            remove(project / name)
    if not answers["use_nginx"]:
        for name in NGINX_FILES:
            remove(project / name)
    if not answers["use_api"]:
        for name in API_FILES:
            remove(project / name.format(slug=answers["project_slug"]))
    licence = answers["open_source_license"]
    if licence != "none":
        (project / "licenses" / f"{licence}.txt").replace(project / "LICENSE")
    remove(project / "licenses")


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


def write_env(project, answers):
    """Create .env readable by its owner alone; an existing one is kept as it is.

    Re-baking with --overwrite-if-exists runs this hook again: the user's secret must survive.
    Returns True when a new file was written.
    """
    path = project / ".env"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as env_file:
        env_file.write("\n".join(env_lines(answers)) + "\n")
    return True


def next_steps(project, answers, wrote_env):
    """Short instructions a user can paste into a shell."""
    env_note = (
        "Wrote .env with a new SECRET_KEY (keep it out of version control)."
        if wrote_env
        else "Kept your existing .env: its SECRET_KEY and settings are unchanged."
    )
    steps = [
        f"cd {shlex.quote(str(project))}",
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install -e '.[dev]'",
    ]
    if answers["database"] == "postgresql":
        steps.append("# start PostgreSQL first: DATABASE_URL in .env says where it is")
    steps += ["flask db upgrade", "flask run", "pytest"]
    return "\n".join([env_note, "Next steps:", *(f"  {step}" for step in steps)])


def main():
    project = Path.cwd()
    prune(project, ANSWERS)
    wrote_env = write_env(project, ANSWERS)
    print(next_steps(project, ANSWERS, wrote_env))


if __name__ == "__main__":
    main()

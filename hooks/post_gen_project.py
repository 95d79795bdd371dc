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
# Swarm spreads replicas over machines, which cannot share an SQLite file: PostgreSQL only.
SWARM_FILES = ["compose.swarm.yaml"]
NGINX_FILES = ["nginx", "deploy"]
KUBERNETES_FILES = ["k8s"]
# The production overlay's secrets: kustomize makes the Kubernetes Secret from this file.
KUBERNETES_ENV = Path("k8s", "overlays", "production", ".env")


def remove(path):
    """Delete a file or a folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def prune(project, answers):
    """Remove the files of disabled options and move the chosen licence into LICENSE."""
    if not answers["use_docker"] or answers["database"] != "postgresql":
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
    if answers["use_kubernetes"]:
        steps.append(f"# Kubernetes: fill in the URLs in {KUBERNETES_ENV}, then see README.md")
    return "\n".join([env_note, "Next steps:", *(f"  {step}" for step in steps)])


def main():
    project = Path.cwd()
    prune(project, ANSWERS)
    wrote_env = write_env(project, ANSWERS)
    if ANSWERS["use_kubernetes"]:
        write_kubernetes_env(project)
    print(next_steps(project, ANSWERS, wrote_env))


if __name__ == "__main__":
    main()

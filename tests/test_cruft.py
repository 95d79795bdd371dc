"""Template improvements reach a project baked long ago through cruft, and never touch its secret.

The template is copied into a git repository, a project is baked from it with `cruft create`
and committed with an edit of its own; then the template changes. `cruft check` must report
that, and `cruft update` must merge the change without reject files, keep the project's edit,
and leave `.env` exactly as it was: the update re-bakes the template in temporary folders,
and each of those bakes writes a fresh `.env` that must not reach the project.
"""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import TEMPLATE, clean_env, git
from cookiecutter_cli import sandbox

BAKED = "{{cookiecutter.project_slug}}"
TEMPLATE_FILES = ["cookiecutter.json", "local_extensions.py", "hooks", BAKED]


def commit_all(repo, message):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def cruft(tmp_path):
    """Run the cruft command with a throwaway home, so no user config is read or written."""
    env = clean_env(**sandbox(tmp_path / "home"))

    def run(*args, cwd=tmp_path):
        # Started by a shell, as a user starts it: the shell sets PWD to the folder.
        return subprocess.run(
            ["bash", "-c", 'exec "$0" -m cruft "$@"', sys.executable, *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def template_repo(tmp_path):
    """The template as its users get it: a git repository."""
    repo = tmp_path / "template"
    repo.mkdir()
    for name in TEMPLATE_FILES:
        source = TEMPLATE / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q")
    commit_all(repo, "Template")
    return repo


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{path.name} no longer has {old!r}"
    path.write_text(text.replace(old, new, 1))


# The database changes what a bake writes, not cruft's way through it: [sqlite] runs in the fast
# tier, [postgresql] (a longer .env, the same steps) in the slow one.
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]


@pytest.mark.parametrize("database", DATABASES)
def test_cruft_update_merges_template_changes_and_keeps_the_secret(
    cruft, template_repo, tmp_path, database
):
    answers = json.dumps({"database": database})
    output = tmp_path / "projects"
    created = cruft(
        "create", template_repo, "--no-input", "--output-dir", output, "--extra-context", answers
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = output / "my_flask_app"
    git(project, "init", "-q")
    commit_all(project, "Baked with cruft")
    assert git(project, "ls-files", ".env").stdout == ""  # the secret is never committed
    secret = (project / ".env").read_bytes()

    # The project's own work, at the end of its README.
    with open(project / "README.md", "a") as readme:
        readme.write("\n## Our team's notes\n\nDeploys go out on Tuesdays.\n")
    commit_all(project, "Team notes")

    up_to_date = cruft("check", "--project-dir", str(project))
    assert up_to_date.returncode == 0, up_to_date.stdout

    # Meanwhile the template improves: a README line near the top and a new ignore rule.
    baked = template_repo / BAKED
    edit(baked / "README.md", "## Set up\n", "## Set up\n\nNeeds Python 3.11 or newer.\n")
    with open(baked / ".gitignore", "a") as ignore:
        ignore.write(".mypy_cache/\n")
    commit_all(template_repo, "Improve the baked README and .gitignore")

    stale = cruft("check", "--project-dir", str(project))
    assert stale.returncode != 0
    assert "out of date" in stale.stdout

    updated = cruft("update", "--project-dir", str(project), "--skip-apply-ask")
    assert updated.returncode == 0, updated.stdout + updated.stderr

    assert list(project.rglob("*.rej")) == []
    assert (project / ".env").read_bytes() == secret
    readme = (project / "README.md").read_text()
    assert "Needs Python 3.11 or newer." in readme
    assert "Deploys go out on Tuesdays." in readme
    assert (project / ".gitignore").read_text().endswith(".mypy_cache/\n")
    changed = git(project, "status", "--porcelain").stdout.split("\n")
    assert sorted(line[3:] for line in changed if line) == [
        ".cruft.json",
        ".gitignore",
        "README.md",
    ]
    assert cruft("check", "--project-dir", str(project)).returncode == 0


def bake_and_commit(cruft, template_repo, tmp_path, **answers):
    """`cruft create` with these answers, then the project committed, as the README says."""
    output = tmp_path / "projects"
    extra = ["--extra-context", json.dumps(answers)] if answers else []
    created = cruft("create", template_repo, "--no-input", "--output-dir", output, *extra)
    assert created.returncode == 0, created.stdout + created.stderr
    project = output / "my_flask_app"
    git(project, "init", "-q")
    commit_all(project, "Baked with cruft")
    return project


def test_a_conflicting_update_leaves_git_conflict_markers_in_the_file(
    cruft, template_repo, tmp_path
):
    """What the README says a conflict looks like: git's three-way merge leaves both sides
    between markers in the file and the path unmerged, while cruft still ends on "Good work!"."""
    project = bake_and_commit(cruft, template_repo, tmp_path)
    secret = (project / ".env").read_bytes()
    edit(project / "README.md", "## Set up\n", "## Set up (our way)\n")
    commit_all(project, "Our heading")
    edit(template_repo / BAKED / "README.md", "## Set up\n", "## Setting up\n")
    commit_all(template_repo, "The template's heading")

    updated = cruft("update", "--project-dir", str(project), "--skip-apply-ask")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "Good work!" in updated.stdout
    readme = (project / "README.md").read_text()
    assert "<<<<<<< ours\n## Set up (our way)\n=======\n## Setting up\n>>>>>>> theirs\n" in readme
    assert "UU README.md" in git(project, "status", "--porcelain").stdout.splitlines()
    assert list(project.rglob("*.rej")) == []
    assert (project / ".env").read_bytes() == secret


def test_changing_the_database_through_cruft_says_what_the_kept_env_lacks(
    cruft, template_repo, tmp_path
):
    """cruft bakes in temporary folders, but the hook's note about the project's .env still
    reaches the user; the .env itself stays as it was."""
    project = bake_and_commit(cruft, template_repo, tmp_path)
    secret = (project / ".env").read_bytes()
    change = json.dumps({"database": "postgresql"})
    # From the project folder, as the README says (cruft's default --project-dir is ".").
    updated = cruft("update", "--variables-to-update", change, "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    note = updated.stdout.split(f"Your .env ({project / '.env'}) was kept", 1)[1]
    assert "DATABASE_URL is SQLite but you chose PostgreSQL" in note
    assert "  DATABASE_URL=postgresql+psycopg://my_flask_app:" in note
    assert "  POSTGRES_PASSWORD=" in note
    assert "Wrote .env" not in updated.stdout and "Next steps" not in updated.stdout
    assert (project / ".env").read_bytes() == secret
    assert (
        json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["database"]
        == "postgresql"
    )

"""A project baked from one release of the template updates to the next, as the README says.

A test repository holds two tagged releases: v1.0.0 is the template as it is now less a few
things (an older accent colour, no Dependabot file), and v1.1.0 brings them, with a line more
in the baked README. A project is baked from v1.0.0 with `cruft create --checkout`,
committed, and edited by its team (a new page with its test, a new dependency, its own colour
and a rule of its own in the stylesheet); then `cruft update --checkout v1.1.0`.
"""

import json
import shutil
from pathlib import Path

import pytest

from conftest import TEMPLATE, git
from test_bake import WITHOUT_POSIX_ONLY_MODULES
from test_cruft import BAKED, commit_all, cruft, edit, template_repo  # noqa: F401 (fixtures)

PACKAGE = "my_flask_app"
STYLE = f"{PACKAGE}/static/src/app.css"  # the stylesheet's source (style.css is built)
ACCENT = "  --accent: #2f6f8f;\n"  # v1.1.0's line
OLD_ACCENT = "  --accent: #2b6a88;\n"  # v1.0.0's
OUR_ACCENT = "  --accent: #7a2f8f;  /* our brand */\n"
README_LINE = "## Set up\n"
NEW_README_LINE = "Release notes: the template's CHANGELOG.md.\n"
DEPENDABOT = ".github/dependabot.yml"


def release(repo, tag):
    commit_all(repo, f"Release {tag[1:]}")
    git(repo, "tag", "-a", tag, "-m", f"Release {tag[1:]}")
    return git(repo, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def releases(template_repo):  # noqa: F811 (the fixture imported above)
    """The test repository's history: v1.0.0, then v1.1.0; returns it and v1.1.0's commit."""
    baked = template_repo / BAKED
    edit(baked / BAKED / "static" / "src" / "app.css", ACCENT, OLD_ACCENT)
    (baked / DEPENDABOT).unlink()
    git(template_repo, "commit", "-q", "--amend", "-a", "-m", "Release 1.0.0")
    git(template_repo, "tag", "-a", "v1.0.0", "-m", "Release 1.0.0")

    source = Path(BAKED, "static", "src", "app.css")
    shutil.copy2(TEMPLATE / BAKED / source, baked / source)
    shutil.copy2(TEMPLATE / BAKED / DEPENDABOT, baked / DEPENDABOT)
    edit(baked / "README.md", README_LINE, README_LINE + "\n" + NEW_README_LINE)
    return template_repo, release(template_repo, "v1.1.0")


def team_edits(project):
    """A page of the team's own with its test, a dependency, and their stylesheet."""
    (project / PACKAGE / "templates" / "about.html").write_text(
        '{% extends "layout.html" %}\n{% block title %}About us{% endblock %}\n'
        "{% block content %}<h1>About us</h1>{% endblock %}\n"
    )
    with open(project / PACKAGE / "main.py", "a") as main:
        main.write(
            '\n\n@bp.route("/about")\ndef about():\n    return render_template("about.html")\n'
        )
    (project / "tests" / "test_about.py").write_text(
        'def test_about_page(client):\n    assert b"About us" in client.get("/about").data\n'
    )
    edit(
        project / "pyproject.toml",
        '    "flask>=3.1,<4",\n',
        '    "flask>=3.1,<4",\n    "markupsafe>=3.0,<4",\n',
    )
    edit(project / STYLE, OLD_ACCENT, OUR_ACCENT)
    with open(project / STYLE, "a") as style:
        style.write("\n.team-banner { font-weight: bold; }\n")


@pytest.mark.slow  # the baked suite runs after the update (about 30 s)
def test_update_to_the_next_release_keeps_the_teams_work(
    releases,
    cruft,  # noqa: F811 (the fixture imported above)
    tmp_path,
    run_in_project,
):
    repo, v110 = releases
    output = tmp_path / "projects"
    created = cruft("create", repo, "--checkout", "v1.0.0", "--no-input", "--output-dir", output)
    assert created.returncode == 0, created.stdout + created.stderr
    project = output / PACKAGE
    git(project, "init", "-q")
    commit_all(project, "Bake from the template's v1.0.0")
    secret = (project / ".env").read_bytes()
    team_edits(project)
    commit_all(project, "Our about page, a dependency and our colours")

    assert cruft("check", "--checkout", "v1.1.0", "--project-dir", project).returncode != 0
    updated = cruft("update", "--checkout", "v1.1.0", "--skip-apply-ask", "--project-dir", project)
    assert updated.returncode == 0, updated.stdout + updated.stderr

    # The template's changes arrived, the team's work stayed, the secret was not touched.
    assert json.loads((project / ".cruft.json").read_text())["commit"] == v110
    assert NEW_README_LINE in (project / "README.md").read_text()
    assert "package-ecosystem" in (project / DEPENDABOT).read_text()
    assert '"markupsafe>=3.0,<4"' in (project / "pyproject.toml").read_text()
    assert (project / PACKAGE / "templates" / "about.html").exists()
    assert 'route("/about")' in (project / PACKAGE / "main.py").read_text()
    assert (project / ".env").read_bytes() == secret
    assert list(project.rglob("*.rej")) == []
    # Both sides changed the accent colour: a conflict, as the README describes it.
    style = (project / STYLE).read_text()
    assert f"<<<<<<< ours\n{OUR_ACCENT}=======\n{ACCENT}>>>>>>> theirs\n" in style
    assert style.endswith(".team-banner { font-weight: bold; }\n")
    assert f"UU {STYLE}" in git(project, "status", "--porcelain").stdout.splitlines()

    # The team keeps its colour, commits, and the project's own suite passes.
    (project / STYLE).write_text(
        style.replace(f"<<<<<<< ours\n{OUR_ACCENT}=======\n{ACCENT}>>>>>>> theirs\n", OUR_ACCENT)
    )
    built = run_in_project(project, "python", "-m", "flask", "assets", "build")  # as its docs say
    assert built.returncode == 0, built.stdout + built.stderr
    commit_all(project, "Update to the template's v1.1.0")
    result = run_in_project(project, "python", "-c", WITHOUT_POSIX_ONLY_MODULES, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert cruft("check", "--checkout", "v1.1.0", "--project-dir", project).returncode == 0

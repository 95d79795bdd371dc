"""scripts/release.py, as .github/workflows/release.yml runs it on each push to main, against a
scratch repository whose "origin" is a bare repository on disk (GitHub cannot be reached here;
the workflow's own checks, actionlint and zizmor, are in test_template_ci.py)."""

import os
import subprocess
import sys

import pytest

from conftest import TEMPLATE, git

SCRIPT = TEMPLATE / "scripts" / "release.py"
UNRELEASED = "# Changelog\n\n## [Unreleased]\n\n- Work in progress.\n"
RELEASE_1_0_0 = "## [1.0.0] - 2026-12-04\n\nThe first release.\n\n### Added\n\n- Everything.\n"
RELEASE_1_1_0 = "## [1.1.0] - 2026-12-20\n\n### Fixed\n\n- Something.\n"


@pytest.fixture
def clone(tmp_path):
    """A clone of a bare "origin" whose CHANGELOG names no release yet."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    commit(work, UNRELEASED, "Start the changelog")
    return work


def commit(work, changelog, message):
    (work / "CHANGELOG.md").write_text(changelog)
    git(work, "add", "CHANGELOG.md")
    git(work, "commit", "-q", "-m", message)
    git(work, "push", "-q", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD").stdout.strip()


def release(work, tmp_path):
    """The workflow's step: returns (stdout, stderr, notes, $GITHUB_OUTPUT's text)."""
    notes, outputs = tmp_path / "notes.md", tmp_path / "github-output"
    for path in (notes, outputs):
        path.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, SCRIPT, "--push", "origin", "--notes-file", notes],
        cwd=work,
        env={**os.environ, "GITHUB_OUTPUT": str(outputs)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    read = lambda path: path.read_text() if path.exists() else None  # noqa: E731
    return result.stdout, result.stderr, read(notes), read(outputs)


def origin_tags(work):
    """{tag: commit} on the remote."""
    lines = git(work, "ls-remote", "--tags", "origin").stdout.splitlines()
    return {ref.removeprefix("refs/tags/"): sha for sha, ref in (line.split() for line in lines)}


def test_nothing_is_tagged_until_the_changelog_names_a_release(clone, tmp_path):
    stdout, stderr, notes, outputs = release(clone, tmp_path)
    assert stdout == "" and notes is None and outputs is None
    assert "names no released version" in stderr
    assert origin_tags(clone) == {}


def test_a_release_commit_is_tagged_once_with_its_notes(clone, tmp_path):
    released = commit(clone, UNRELEASED + "\n" + RELEASE_1_0_0, "Release 1.0.0")
    commit(clone, UNRELEASED.replace("progress", "progress, again") + "\n" + RELEASE_1_0_0, "More")

    stdout, _, notes, outputs = release(clone, tmp_path)
    assert stdout == outputs == "tag=v1.0.0\ncreated=true\n"
    # On the commit that added the heading, not on the newest one.
    assert origin_tags(clone) == {"v1.0.0": released}
    assert notes == "The first release.\n\n### Added\n\n- Everything.\n"

    # The next push to main: the tag is there, nothing changes (the release step is idempotent
    # too: it creates the GitHub release only when `gh release view` finds none).
    stdout, _, notes, _ = release(clone, tmp_path)
    assert stdout == "tag=v1.0.0\ncreated=false\n"
    assert origin_tags(clone) == {"v1.0.0": released}
    assert notes.startswith("The first release.")

    newer = commit(
        clone, UNRELEASED + "\n" + RELEASE_1_1_0 + "\n" + RELEASE_1_0_0, "Release 1.1.0"
    )
    stdout, _, notes, _ = release(clone, tmp_path)
    assert stdout == "tag=v1.1.0\ncreated=true\n"
    assert origin_tags(clone) == {"v1.0.0": released, "v1.1.0": newer}
    assert notes == "### Fixed\n\n- Something.\n"


def test_the_templates_changelog_names_its_release(tmp_path):
    """The template's own CHANGELOG.md: its newest release and that version's notes."""
    sys.path.insert(0, str(SCRIPT.parent))
    from release import newest_release

    version, notes = newest_release((TEMPLATE / "CHANGELOG.md").read_text())
    assert f"## [{version}] - " in (TEMPLATE / "CHANGELOG.md").read_text()
    assert notes.strip() and "## [" not in notes

"""Tag the template's newest release, as CHANGELOG.md names it, where the repository lives.

Only the main branch travels with the published repository, so releases are made by the
workflow `.github/workflows/release.yml` on each push to main:

    python3 scripts/release.py --push origin --notes-file notes.md

reads the newest `## [X.Y.Z] - date` heading of CHANGELOG.md (not `[Unreleased]`), and
when the remote has no tag `vX.Y.Z` yet, pushes that tag to it, on the commit that added the
heading (the release commit). It writes that version's notes (the section under the heading)
to the notes file, and prints `tag=vX.Y.Z` and `created=true|false` (also to $GITHUB_OUTPUT
when set), so the next step can publish the release. A second run changes nothing; without
a released version it prints nothing and does nothing.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HEADING = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", re.MULTILINE)


def newest_release(changelog):
    """(version, notes) of the first released version's section, or None."""
    match = HEADING.search(changelog)
    if not match:
        return None
    following = re.compile(r"^## ", re.MULTILINE).search(changelog, match.end())
    notes = changelog[match.end() : following.start() if following else None].strip()
    return match["version"], notes + "\n"


def git(*args, cwd):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def release_commit(heading, cwd):
    """The oldest commit whose CHANGELOG.md holds the heading: the one that added it."""
    commits = git(
        "log", "--format=%H", "--fixed-strings", "-S", heading, "--", "CHANGELOG.md", cwd=cwd
    )
    return commits.splitlines()[-1] if commits else git("rev-parse", "HEAD", cwd=cwd)


def tag_exists(remote, tag, cwd):
    return bool(git("ls-remote", "--tags", remote, f"refs/tags/{tag}", cwd=cwd))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the template's clone")
    parser.add_argument("--push", metavar="REMOTE", help="tag and push there if it has no tag")
    parser.add_argument("--notes-file", type=Path, help="write the release notes there")
    args = parser.parse_args(argv)

    found = newest_release((args.repo / "CHANGELOG.md").read_text(encoding="utf-8"))
    if found is None:
        print("CHANGELOG.md names no released version: nothing to tag", file=sys.stderr)
        return 0
    version, notes = found
    tag = f"v{version}"
    created = False
    if args.push and not tag_exists(args.push, tag, args.repo):
        heading = HEADING.search((args.repo / "CHANGELOG.md").read_text(encoding="utf-8"))[0]
        commit = release_commit(heading, args.repo)
        git("push", args.push, f"{commit}:refs/tags/{tag}", cwd=args.repo)
        created = True
    if args.notes_file:
        args.notes_file.write_text(notes, encoding="utf-8")
    outputs = f"tag={tag}\ncreated={str(created).lower()}\n"
    print(outputs, end="")
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as file:
            file.write(outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

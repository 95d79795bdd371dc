"""constraints.txt, pip's copy of uv.lock, pins the same versions (docs/dependencies.md).

When uv.lock changes (`uv lock`, a Dependabot pull request), remake it with the command in its
second line: `uv export --frozen --no-hashes --no-emit-project --no-annotate -o constraints.txt`.
"""

import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_constraints_pin_what_uv_lock_pins():
    packages = tomllib.loads((PROJECT / "uv.lock").read_text())["package"]
    locked = {(p["name"], p["version"]) for p in packages if p["source"] != {"editable": "."}}
    pinned = set()
    for line in (PROJECT / "constraints.txt").read_text().splitlines():
        requirement = line.split(";")[0].strip()  # a marker, e.g. sys_platform == 'win32'
        if requirement and not requirement.startswith("#"):
            name, version = requirement.split("==")
            pinned.add((name, version))
    assert pinned == locked, "remake constraints.txt with the command in its second line"

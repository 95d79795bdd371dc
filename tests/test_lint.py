"""The template's own code is as clean as the projects it bakes."""

import subprocess
import sys

from conftest import TEMPLATE


def ruff(*args):
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=TEMPLATE, capture_output=True, text=True
    )


def test_ruff_check():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout


def test_ruff_format():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout

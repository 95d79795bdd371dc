"""Every answer the pre-gen hook accepts bakes a project whose lint, format check and types pass.

Free text lands in Python as string literals (config.py's APP_NAME and APP_DESCRIPTION), and
the version in `__init__.py`: at the hook's longest, with quotes, backslashes and characters
beyond ASCII, the lines must still be ones ruff check, ruff format --check and mypy accept.
"""

import ast
import sys
import tomllib

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE

sys.path.insert(0, str(TEMPLATE))
from local_extensions import LINE_LENGTH, python_literal  # noqa: E402

# The hook's limits (hooks/pre_gen_project.py); test_limits_are_the_hooks checks them.
LIMITS = {"project_name": 100, "description": 300, "author_name": 100, "version": 32}
SLUG = "a_rather_long_package_name_that_fits_all"  # 40, the slug's limit

# Sorts of text that change how wide a literal is: escapes, quote choice, wide characters,
# characters printed as escapes, and a word too long to break at a space.
ALPHABETS = {
    "ascii-words": "Lorem ipsum dolor sit amet ",
    "quotes-backslashes": 'Jo "O\'Brien" said \\ "hi" ',
    "double-quotes": 'say "x" ',
    "non-ascii": "Ünïcödé 中文 🙂 café ",
    "format-characters": "zero\u200bwidth\u200djoin ",
    "one-word": "x",
}


def text_of(alphabet, length):
    return (ALPHABETS[alphabet] * (length // len(ALPHABETS[alphabet]) + 1))[:length].strip() or "x"


def longest_answers():
    """Answers at each of the hook's limits, with every sort of character it accepts."""
    mix = "".join(ALPHABETS.values())
    return {
        "project_name": (mix * 10)[: LIMITS["project_name"] - 1] + "x",
        "description": (mix * 20)[: LIMITS["description"] - 1] + "\\",
        "author_name": (mix * 10)[: LIMITS["author_name"] - 1] + "'",
        "version": "11" + ".1" * 15,
        "project_slug": SLUG,
    }


def test_limits_are_the_hooks(tmp_path):
    """The limits above are the hook's: one character more is refused."""
    answers = longest_answers()
    assert all(len(answers[name]) == limit for name, limit in LIMITS.items())
    assert len(SLUG) == 40
    for name in [*LIMITS, "project_slug"]:
        longer = {**answers, name: answers[name] + "1"}
        with pytest.raises(FailedHookException):
            cookiecutter(
                str(TEMPLATE), no_input=True, extra_context=longer, output_dir=str(tmp_path)
            )


def test_line_length_is_the_baked_projects(bake_once):
    pyproject = tomllib.loads((bake_once() / "pyproject.toml").read_text())
    assert pyproject["tool"]["ruff"]["line-length"] == LINE_LENGTH


def test_literals_pass_ruff_at_every_length(bake_once, run_in_project, tmp_path):
    """python_literal, for each sort of text at every length up to the longest answer, writes
    a statement that reads back as the text and that ruff check and ruff format accept."""
    (tmp_path / "pyproject.toml").write_bytes((bake_once() / "pyproject.toml").read_bytes())
    expected = {}
    for alphabet in ALPHABETS:
        for length in range(1, LIMITS["description"] + 1):
            text = text_of(alphabet, length)
            name = f"{alphabet.replace('-', '_')}_{length}.py"
            line_start = "    APP_DESCRIPTION = "
            source = f'class Config:\n    """Settings."""\n\n{line_start}'
            source += python_literal(text, line_start) + "\n"
            (tmp_path / name).write_text(source)
            expected[name] = text
    for name, text in expected.items():
        assignment = ast.parse((tmp_path / name).read_text()).body[0].body[1]
        assert ast.literal_eval(assignment.value) == text, name
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = run_in_project(tmp_path, "ruff", *command)
        assert result.returncode == 0, result.stdout + result.stderr


# The defaults in the fast tier; the option set with the most files (PostgreSQL, Kubernetes)
# and the one without the API in the whole suite.
OPTION_SETS = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {"database": "postgresql", "use_kubernetes": True}, id="kubernetes", marks=pytest.mark.slow
    ),
    pytest.param({"use_api": False}, id="no-api", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("options", OPTION_SETS)
def test_longest_answers_bake_a_project_that_passes_ruff_and_mypy(
    bake, baked_python, run_in_project, options
):
    answers = longest_answers()
    project = bake(**answers, **options)
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = run_in_project(project, "ruff", *command)
        assert result.returncode == 0, result.stdout + result.stderr
    cache = baked_python.parent.parent / "mypy-cache"  # shared with test_tooling.py
    result = run_in_project(project, "mypy", "--cache-dir", str(cache))
    assert result.returncode == 0, result.stdout + result.stderr
    config = ast.parse((project / SLUG / "config.py").read_text())
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.walk(config)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        if node.targets[0].id in {"APP_NAME", "APP_DESCRIPTION"}
    }
    assert values == {
        "APP_NAME": answers["project_name"],
        "APP_DESCRIPTION": answers["description"],
    }


@pytest.mark.slow  # runs the baked project's suite
def test_longest_answers_bake_a_project_whose_tests_pass(bake, run_in_project):
    project = bake(**longest_answers())
    result = run_in_project(project, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr

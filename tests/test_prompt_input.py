"""Whatever people answer in free text, the bake is sound or refused cleanly, never injected.

Answers reach the template in two ways, and cookiecutter treats them differently:
- typed at the prompt: kept as typed, except that the prompt trims surrounding spaces;
- given as extra context (`--no-input key=value`, the Python API, the user config): rendered
  as Jinja first, so `{{ 6 * 7 }}` becomes `42`, and a syntax or undefined-name error stops
  cookiecutter before any hook runs (a traceback, or a context dump). A replay file keeps
  values as they are.
Either way, a value that bakes must come out in the files as exactly the data cookiecutter
recorded, and only in the files that quote it; any other value is refused by the pre-gen hook
with one `error:` line and nothing on disk.
"""

import ast
import functools
import json
import os
import sys
import tomllib
from pathlib import Path
from unittest import mock

import pexpect
import pytest
from cookiecutter.exceptions import FailedHookException, UndefinedVariableInTemplate
from cookiecutter.main import cookiecutter
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError
from rich.prompt import PromptBase

from conftest import TEMPLATE, assert_files_parse
from cookiecutter_cli import cookiecutter_cli, leftovers, replay_file, sandbox

FREE_TEXT = ["project_name", "description", "author_name", "email"]
CONTEXT = json.loads((TEMPLATE / "cookiecutter.json").read_text())
PROMPT_ORDER = [name for name in CONTEXT if not name.startswith("_")]
JINJA_MARKERS = ("{{", "{%", "{#")

# Files a free-text answer may reach, each writing it in its own syntax (or as prose).
QUOTING_FILES = {"pyproject.toml", "README.md", "LICENSE", "{slug}/config.py"}

FRAGMENTS = [
    '"', "'", '"""', "'''", "\\", "\\n", "\\u0041", "{{ 6 * 7 }}", "{% if %}", "{#", "#}",
    "{{", "}}", "{% raw %}", "$(touch pwned)", "`touch pwned`", "; rm -rf ~", "&&", "|", ">",
    "${HOME}", "%s", "{0}", "<script>", "]]", "[tool.x]", "é", "中文", "🙂", "\u200b", " ", "a",
    "@", ".", "user@example.com",
]  # fmt: skip
CONTROL = ["\x00", "\x7f", "\t", "\n", "\r", "\u2028"]

# Mostly text a person could mean (it should bake), sometimes anything at all (it may not).
printable = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])
meant_text = st.one_of(
    st.text(printable, min_size=1, max_size=60),
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("".join),
)
any_text = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS + CONTROL), min_size=1, max_size=8).map("".join),
    st.text(min_size=1, max_size=40),
    st.text(min_size=90, max_size=400),  # around and beyond the hook's length limits
)
free_text = st.one_of(meant_text, meant_text, any_text)


def answers_of(text):
    """Some of the free-text answers, drawn from `text`; the email also from real addresses."""
    fields = dict.fromkeys(["project_name", "description", "author_name"], text)
    fields["email"] = st.one_of(st.emails(), text)
    return st.fixed_dictionaries({}, optional=fields)


nasty_answers = answers_of(free_text)
# A line typed at a terminal cannot hold a line break: Enter ends it.
typed_answers = answers_of(free_text.map(lambda text: text.replace("\n", " ").replace("\r", " ")))
PROPERTY_SETTINGS = settings(
    # A quick sample before each commit (5 drawn examples beside the @example ones, and
    # Hypothesis replays any failure it found before); CI, with time to spare, tries 60.
    max_examples=60 if os.environ.get("CI") else 5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def bake_in_process(folder, answers, typed):
    """Bake into `folder`/out with cookiecutter's own API; returns the project path.

    Typed answers go through cookiecutter's real prompts (Rich), fed one line per question
    (an empty line takes the default); the others are extra context with --no-input.
    The replay file lands in `folder`/home as it would in a user's home.
    """
    config = sandbox(folder / "home")["COOKIECUTTER_CONFIG"]
    options = {"output_dir": str(folder / "out"), "config_file": config}
    if not typed:
        return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, **options))
    lines = [answers.get(name, "") for name in PROMPT_ORDER]
    with mock.patch.object(PromptBase, "get_input", side_effect=lines):
        return Path(cookiecutter(str(TEMPLATE), **options))


def recorded_answers(folder):
    """The answers cookiecutter ended up with, as saved in its replay file."""
    return json.loads(replay_file(folder / "home").read_text())["cookiecutter"]


def app_name(project):
    """APP_NAME as written in the baked config.py, read without running it."""
    tree = ast.parse((project / project.name / "config.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "APP_NAME":
            return ast.literal_eval(node.value)
    raise AssertionError("config.py sets no APP_NAME")


def assert_answers_round_trip(project, answers):
    """The free text the bake was given reads back unchanged from the files that hold it."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["description"] == answers["description"]
    assert meta["authors"] == [{"name": answers["author_name"], "email": answers["email"]}]
    assert app_name(project) == answers["project_name"]


def files_differing(project, reference):
    """Relative paths whose content differs between two baked projects (.env is random)."""
    names = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    names |= {p.relative_to(reference).as_posix() for p in reference.rglob("*") if p.is_file()}
    names.discard(".env")
    return {
        name
        for name in names
        if not (project / name).is_file()
        or not (reference / name).is_file()
        or (project / name).read_bytes() != (reference / name).read_bytes()
    }


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The project baked with default free text under a given slug, made once per slug."""

    @functools.cache
    def bake(slug):
        folder = tmp_path_factory.mktemp("reference")
        return bake_in_process(folder, {"project_slug": slug}, typed=False)

    return bake


def assert_free_text_stays_in_quoting_files(project, reference):
    """Against a bake with default free text and the same slug, only quoting files differ."""
    allowed = {name.format(slug=project.name) for name in QUOTING_FILES}
    assert files_differing(project, reference) <= allowed


def assert_refused_by_hook(error, folder, stderr):
    """A refusal: the hook failed, said why in one line, and no file is left."""
    assert isinstance(error, FailedHookException), repr(error)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert any(name in lines[0] for name in [*FREE_TEXT, "project_slug"]), lines[0]
    assert leftovers(folder / "out") == []


def check_bake(folder, answers, typed, capfd, reference):
    """Bake `answers`; the result must be a sound project or a clean refusal.

    Returns (project path, answers cookiecutter recorded), or None when refused.
    """
    capfd.readouterr()
    try:
        project = bake_in_process(folder, answers, typed)
    except FailedHookException as error:
        assert_refused_by_hook(error, folder, capfd.readouterr().err)
        return None
    assert_files_parse(project)
    recorded = recorded_answers(folder)
    assert_answers_round_trip(project, recorded)
    assert_free_text_stays_in_quoting_files(project, reference(project.name))
    return project, recorded


@PROPERTY_SETTINGS
@given(answers=typed_answers)
@example(answers={"project_name": "中" * 60})  # its default slug is 359 characters long
@example(answers={"description": "x' + __import__('os').getcwd() + 'x", "author_name": '"""'})
def test_typed_answers_bake_a_sound_project_or_are_refused(
    tmp_path_factory, capfd, reference, answers
):
    folder = tmp_path_factory.mktemp("typed")
    baked = check_bake(folder, answers, typed=True, capfd=capfd, reference=reference)
    event("baked" if baked else "refused by the hook")
    if baked:
        _, recorded = baked
        for name, value in answers.items():
            assert recorded[name] == value.strip()  # the prompt trims, nothing else


@PROPERTY_SETTINGS
@given(answers=nasty_answers)
@example(answers={"description": "{{ 6 * 7 }}", "author_name": "{% raw %}{{{% endraw %}"})
@example(answers={"description": "{% if %}"})
@example(answers={"project_name": "App {{ nope }}"})
@example(answers={"project_name": "a" * 300})  # its default slug is 300 characters long
def test_extra_context_bakes_a_sound_project_or_is_refused(
    tmp_path_factory, capfd, reference, answers
):
    folder = tmp_path_factory.mktemp("extra")
    has_jinja = any(marker in value for value in answers.values() for marker in JINJA_MARKERS)
    try:
        baked = check_bake(folder, answers, typed=False, capfd=capfd, reference=reference)
    except (TemplateSyntaxError, UndefinedVariableInTemplate):
        event("not valid Jinja: cookiecutter stops")
        # cookiecutter could not render the value as Jinja: it stops before writing a file.
        assert has_jinja
        assert leftovers(folder / "out") == []
        return
    event("baked" if baked else "refused by the hook")
    if baked:
        _, recorded = baked
        for name, value in answers.items():
            if not any(marker in value for marker in JINJA_MARKERS):
                assert recorded[name] == value


def within(limit):
    """Text that is still something after the prompt trims it, and no longer than `limit`."""
    return meant_text.filter(lambda text: 0 < len(text.strip()) <= limit)


# One printable line within the hook's limits, and a package name of its own.
meant_answers = st.fixed_dictionaries(
    {"project_slug": st.just("my_app")},
    optional={"project_name": within(100), "description": within(300), "author_name": within(100)},
)


@PROPERTY_SETTINGS
@given(answers=meant_answers)
def test_any_printable_line_typed_bakes_and_reads_back_unchanged(
    tmp_path_factory, capfd, reference, answers
):
    folder = tmp_path_factory.mktemp("meant")
    baked = check_bake(folder, answers, typed=True, capfd=capfd, reference=reference)
    assert baked, "refused an answer a person could mean"
    _, recorded = baked
    assert {name: recorded[name] for name in answers} == {k: v.strip() for k, v in answers.items()}


# The real command line, for the behaviour each way of answering shows a user.


def test_typed_answers_are_kept_verbatim_at_a_real_terminal(tmp_path):
    typed = {
        "Project name": "Café {{ 6 * 7 }} \"quoted\" 'single' \\ back",
        "One-line description": "{% if %} $(touch pwned) `id` ; rm -rf ~ \\",
        "Author name": "O'Brien {{ cookiecutter.email }}",
    }
    env = {"HOME": str(tmp_path), "NO_COLOR": "1", "TERM": "dumb"}
    command = ["-m", "cookiecutter", "-o", str(tmp_path / "out"), str(TEMPLATE)]
    child = pexpect.spawn(
        sys.executable, command, cwd=tmp_path, env=env, encoding="utf-8", timeout=30
    )
    while child.expect([r"\): ", pexpect.EOF]) == 0:  # every prompt ends "(default): "
        question = child.before.rsplit("]", 1)[-1]
        child.sendline(next((v for q, v in typed.items() if q in question), ""))
    child.close()
    assert child.exitstatus == 0, child.before
    project = tmp_path / "out" / "cafe_6_7_quoted_single_back"
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert app_name(project) == typed["Project name"]
    assert meta["description"] == typed["One-line description"]
    assert meta["authors"][0]["name"] == typed["Author name"]
    assert not list(tmp_path.rglob("pwned"))


def test_no_input_renders_jinja_in_answers(tmp_path):
    out = tmp_path / "out"
    result = cookiecutter_cli(
        tmp_path / "home", "--no-input", "-o", out, description="{{ 6 * 7 }}"
    )
    assert result.returncode == 0, result.stderr
    meta = tomllib.loads((out / "my_flask_app" / "pyproject.toml").read_text())["project"]
    assert meta["description"] == "42"


def test_no_input_jinja_syntax_error_stops_cookiecutter_with_a_traceback(tmp_path):
    out = tmp_path / "out"
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, description="{% if %}")
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("jinja2.exceptions.TemplateSyntaxError: ")
    assert not out.exists()


def test_no_input_undefined_name_stops_cookiecutter_with_a_message(tmp_path):
    out = tmp_path / "out"
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, description="{{ nope }}")
    assert result.returncode == 1
    assert "Unable to render variable 'description'" in result.stdout
    assert "'nope' is undefined" in result.stdout
    assert not out.exists()


def test_replay_file_keeps_jinja_in_answers_as_text(tmp_path, replayed_context):
    home = tmp_path / "home"
    context = json.loads(replayed_context)
    context["cookiecutter"]["description"] = "{{ 6 * 7 }}"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(context))
    result = cookiecutter_cli(home, "--replay-file", edited, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    meta = tomllib.loads((tmp_path / "out/my_flask_app/pyproject.toml").read_text())["project"]
    assert meta["description"] == "{{ 6 * 7 }}"


# A few nasty answers all the way: the baked project's own test suite passes.

NASTY_PROJECTS = {
    "quotes-and-python": {
        "project_name": 'Jo "O\'Brien" \\ """); __import__("os").system("touch pwned") #',
        "description": "'''\"\"\"' + __import__('os').getcwd() + ' ends with a backslash \\",
        "author_name": "\\'; import os; os.system('touch pwned') # \"The \\ Hand\"",
    },
    "jinja-shell-html-unicode": {
        "project_name": "App {{ 6 * 7 }} {% raw %} $(touch pwned) `touch pwned` ; rm -rf ~ &&",
        "description": "${HOME} %s {0} {{ cookiecutter.project_slug }} <script>alert(1)</script>",
        "author_name": "Ünïcödé 中文 🙂 \u200b",
    },
}


@pytest.mark.slow  # runs the baked project's suite
@pytest.mark.parametrize("answers", NASTY_PROJECTS.values(), ids=NASTY_PROJECTS.keys())
def test_nasty_typed_answers_bake_a_project_whose_tests_pass(
    tmp_path, capfd, reference, run_in_project, answers
):
    project, recorded = check_bake(tmp_path, answers, True, capfd, reference)
    assert {name: recorded[name] for name in answers} == answers
    result = run_in_project(project, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.rglob("pwned"))

"""The interactive prompts as a person meets them in a terminal, and the next steps they are given.

Runs `python -m cookiecutter <template>` in a pseudo-terminal, types a few answers and presses
Enter for the rest, then runs the printed next steps in the baked project. HOME and the
cookiecutter config point into a temp folder, so the user's config and replay files are untouched.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
import urllib.request

import pexpect
import pytest

from conftest import TEMPLATE, clean_env
from cookiecutter_cli import replay_file, sandbox
from pythons import interpreter, missing_reason, user_env
from servers import answers_http, free_port, wait_until

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Every prompt shows its default in parentheses and waits after ": ".
PROMPT_END = re.compile(r"\((?P<default>[^()\x1b]*)\)(?:\x1b\[[0-9;]*m)*: $")

ANSWERS = {
    "project_name": "Tea Shop",
    "author_name": "Ada Lovelace",
    "python_version": "3.13",
    "use_docker": False,
    "open_source_license": "Apache-2.0",
}


def questions():
    """(variable, prompt text, choice labels or None, default) in the order they are asked."""
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    prompts = context["__prompts__"]
    for name, default in context.items():
        if name.startswith("_"):
            continue
        prompt = prompts[name]
        if isinstance(default, list):
            yield name, prompt["__prompt__"], [prompt[choice] for choice in default], default
        else:
            yield name, prompt, None, default


def keys_for(name, default):
    """What the person types: a choice's number, y/n, text, or nothing to take the default."""
    if name not in ANSWERS:
        return ""
    answer = ANSWERS[name]
    if isinstance(default, list):
        return str(default.index(answer) + 1)
    if isinstance(default, bool):
        return "y" if answer else "n"
    return answer


def test_prompts_show_one_bracketed_group_and_mention_docker_only_once_asked():
    # cookiecutter shows a plain prompt's default in parentheses after its text.
    asked = list(questions())
    for name, text, labels, _ in asked:
        if labels is None:
            assert "(" not in text, f"{name}: {text}"
    names = [name for name, *_ in asked]
    before_docker = asked[: names.index("use_docker")]
    for name, text, labels, _ in before_docker:
        assert "docker" not in " ".join([text, *(labels or [])]).lower(), name


def spawn_cookiecutter(tmp_path):
    """cookiecutter in a real terminal, with its config, replay and clones kept in tmp_path."""
    env = clean_env(**sandbox(tmp_path / "home"), TERM="xterm-256color")
    command = ["-m", "cookiecutter", str(TEMPLATE), "--output-dir", str(tmp_path / "out")]
    return pexpect.spawn(
        sys.executable, command, env=env, encoding="utf-8", timeout=30, dimensions=(50, 160)
    )


def answer_prompts(child):
    """Answer every prompt, checking its wording, its numbered choices and its default."""
    questions_asked = list(questions())
    for number, (name, text, labels, default) in enumerate(questions_asked, start=1):
        child.expect(PROMPT_END)
        screen = ANSI.sub("", child.before + child.after)
        assert f"[{number}/{len(questions_asked)}] {text}" in screen
        if labels:
            assert [f"{i} - {label}" for i, label in enumerate(labels, 1)] == re.findall(
                r"\d+ - [^\r\n]+", screen
            )
        if name == "project_slug":
            assert child.match["default"] == "tea_shop"  # derived from the name just typed
        child.sendline(keys_for(name, default))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return ANSI.sub("", child.before).replace("\r\n", "\n")


def next_steps(output):
    """The commands under "Next steps:", without comment lines."""
    lines = output.split("Next steps:\n", 1)[1].splitlines()
    steps = [line.strip() for line in lines if line.startswith("  ")]
    return [step for step in steps if not step.startswith("#")]


def serve_and_fetch(step, project, env):
    """Run a `flask run` step on a free port until it answers; return the home page."""
    port = free_port()
    process = subprocess.Popen(
        ["bash", "-c", step],
        cwd=project,
        env={**env, "FLASK_RUN_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the debug reloader starts a child: stop the whole group
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers_http(f"{url}/healthz"), step, process)
        with urllib.request.urlopen(f"{url}/", timeout=5) as response:
            return response.read().decode()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


@pytest.mark.e2e  # runs `flask run`, a real server
def test_prompts_bake_the_answers_and_the_next_steps_work(tmp_path):
    child = spawn_cookiecutter(tmp_path)
    output = answer_prompts(child)

    project = tmp_path / "out" / "tea_shop"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["name"] == "tea_shop"
    assert pyproject["authors"][0]["name"] == "Ada Lovelace"
    assert pyproject["license"] == "Apache-2.0"
    assert (project / ".python-version").read_text().strip() == "3.13"
    assert not (project / "Dockerfile").exists()
    assert (project / "nginx").is_dir()
    assert (project / ".env").stat().st_mode & 0o777 == 0o600
    assert "Wrote .env" in output
    assert not (tmp_path / "home" / ".cookiecutterrc").exists()
    assert replay_file(tmp_path / "home").is_file()  # the replay went where the config says

    cd, *steps = next_steps(output)
    assert steps == ["uv sync", "uv run flask db upgrade", "uv run flask run", "uv run pytest"]
    assert shlex.split(cd) == ["cd", str(project)]

    # The steps as printed, by a person with uv and the Python they chose (3.13) installed.
    python = interpreter(ANSWERS["python_version"])
    if python is None:
        pytest.skip(missing_reason(ANSWERS["python_version"]))
    env = user_env(python)
    for step in steps:
        if step == "uv run flask run":
            assert "Tea Shop" in serve_and_fetch(step, project, env)
            continue
        result = subprocess.run(
            ["bash", "-c", step], cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{step}\n{result.stdout}{result.stderr}"
    assert "3.13" in (project / ".venv" / "pyvenv.cfg").read_text()
    assert (project / "instance" / "tea_shop.sqlite").exists()

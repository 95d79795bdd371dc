"""Bad package names and option values are refused before a file is written, with a clear line.

Everything runs the real `cookiecutter` command. A pre-gen hook refusal prints one `error:`
line on stderr (cookiecutter itself logs its own traceback on stdout). Some values never reach
the hook because cookiecutter stops first; those cases say what the user sees instead.
"""

import json

import pytest

from cookiecutter_cli import cookiecutter_cli, leftovers, replay_file

BAD_SLUGS = {
    "keyword": ("class", "is a Python keyword"),
    "soft-keyword": ("match", "is a Python keyword"),
    "leading-digit": ("1app", "is not a lower-case Python identifier"),
    "hyphen": ("my-app", "is not a lower-case Python identifier"),
    "upper-case": ("MyApp", "is not a lower-case Python identifier"),
    "space": ("my app", "is not a lower-case Python identifier"),
    "non-ascii": ("café", "is not a lower-case Python identifier"),
    "too-long": ("a" * 100, "is 100 characters long; keep it to 64"),
    "parent-folder": ("../evil", "is not a lower-case Python identifier"),
    "stdlib": ("json", "would shadow the standard library module 'json'"),
    "stdlib-email": ("email", "would shadow the standard library module 'email'"),
    "dependency": ("flask", "would shadow a package the project uses"),
    "dependency-sqlalchemy": ("sqlalchemy", "would shadow a package the project uses"),
    "project-folder": ("tests", "would shadow a package the project uses"),
}


def refused_by_hook(result, fragment):
    """The hook's one error line, on stderr, says what is wrong."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


@pytest.mark.parametrize("slug, fragment", BAD_SLUGS.values(), ids=BAD_SLUGS.keys())
def test_bad_slug_is_refused_and_nothing_is_written(tmp_path, slug, fragment):
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug=slug)
    refused_by_hook(result, fragment)
    assert leftovers(out) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home", "out"]


def test_nested_slug_is_refused_but_cookiecutter_leaves_its_parent_folder(tmp_path):
    # cookiecutter makes `out/a/b` with all parents before the hook runs, then removes only
    # `b`: the empty folder `a` stays. Nothing of the project is written.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug="a/b")
    refused_by_hook(result, "is not a lower-case Python identifier")
    assert leftovers(out) == ["a"]


def test_absolute_path_slug_is_refused_and_nothing_is_written(tmp_path):
    target = tmp_path / "elsewhere"
    result = cookiecutter_cli(
        tmp_path / "home", "--no-input", "-o", tmp_path / "out", project_slug=target
    )
    refused_by_hook(result, "is not a lower-case Python identifier")
    assert not target.exists()


def test_empty_slug_is_stopped_by_cookiecutter_with_a_misleading_message(tmp_path):
    # An empty name makes the project folder the output folder itself, which exists, so
    # cookiecutter stops before the hook. A user meets this by typing only spaces at the
    # prompt, or with a project name that slugifies to nothing ("!!!").
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_name="!!!")
    assert result.returncode == 1
    assert f'Error: "{out}" directory already exists' in result.stdout
    assert leftovers(out) == []


def test_empty_slug_in_a_new_output_folder_reaches_the_hook(tmp_path):
    out = tmp_path / "new"
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug="")
    refused_by_hook(result, "project_slug '' is not a lower-case Python identifier")
    assert not out.exists()


def test_slug_longer_than_a_file_name_stops_cookiecutter_before_the_hook(tmp_path):
    # 300 characters exceed the 255 a file name may have: cookiecutter fails making the
    # folder, with a traceback ending in the OS error. The hook's limit (64) covers 65-255.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug="a" * 300)
    assert result.returncode == 1
    assert "File name too long" in result.stderr.strip().splitlines()[-1]
    assert leftovers(out) == []


INVALID_OPTIONS = {
    "use_docker": ("maybe", "maybe provided for variable use_docker could not be converted"),
    "use_nginx": ("sometimes", "sometimes provided for variable use_nginx could not be"),
    "database": ("mysql", "mysql provided for choice variable database, but the choices"),
    "python_version": ("3.9", "3.9 provided for choice variable python_version, but the"),
    "open_source_license": ("GPL", "GPL provided for choice variable open_source_license"),
}


@pytest.mark.parametrize("name, value, message", [(k, *v) for k, v in INVALID_OPTIONS.items()])
def test_invalid_option_on_the_command_line_is_refused_by_cookiecutter(
    tmp_path, name, value, message
):
    # cookiecutter checks choices and booleans from the command line itself, before any
    # hook can: the user gets a traceback whose last line names the value and the variable.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, **{name: value})
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"ValueError: {message}")
    assert leftovers(out) == []
    assert not replay_file(tmp_path / "home").exists()


def test_yes_no_words_on_the_command_line_turn_options_off(tmp_path):
    out = tmp_path / "out"
    result = cookiecutter_cli(
        tmp_path / "home", "--no-input", "-o", out, use_docker="no", use_nginx="off"
    )
    assert result.returncode == 0, result.stderr
    project = out / "my_flask_app"
    assert not (project / "Dockerfile").exists()
    assert not (project / "nginx").exists()


REPLAYED_OPTIONS = {
    "use_docker": ("maybe", "error: use_docker must be yes or no (got 'maybe')"),
    "use_api": ("later", "error: use_api must be yes or no (got 'later')"),
    "database": ("mysql", "error: database must be one of sqlite, postgresql (got 'mysql')"),
    "python_version": ("3.9", "error: python_version must be one of 3.11, 3.12, 3.13"),
}


@pytest.mark.parametrize("name, value, line", [(k, *v) for k, v in REPLAYED_OPTIONS.items()])
def test_invalid_option_in_a_replay_file_is_refused_by_the_hook(tmp_path, name, value, line):
    # A replay file (also what automation writes) bypasses cookiecutter's own checks, so
    # here the hook decides.
    home = tmp_path / "home"
    first = cookiecutter_cli(home, "--no-input", "-o", tmp_path / "first")
    assert first.returncode == 0, first.stderr
    context = json.loads(replay_file(home).read_text())
    context["cookiecutter"][name] = value
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(context))
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(home, "--replay-file", edited, "-o", out)
    refused_by_hook(result, line.removeprefix("error: "))
    assert leftovers(out) == []

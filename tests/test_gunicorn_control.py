"""Gunicorn's control socket (gunicornc), one for each app and address of a user.

Gunicorn 25+ opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else at
~/.gunicorn/gunicorn.ctl: one path for every Gunicorn a user runs. A second Gunicorn took the
first one's over, and deleted it when it stopped. The baked gunicorn.conf.py names it after the
app and the address it binds.
"""

import json
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest

import servers
from conftest import clean_env

SLUG = "my_flask_app"


def socket_name(server):
    return f"{SLUG}-127.0.0.1-{server.port}.ctl"


@pytest.fixture
def short_folder():
    """A folder with a short path: a socket's path has at most 107 bytes (pytest's are long)."""
    with tempfile.TemporaryDirectory(prefix="ctl-") as folder:
        yield Path(folder)


def master_pid(baked_python, socket):
    """The pid of the Gunicorn master that answers on a control socket."""
    gunicornc = baked_python.parent / "gunicornc"
    command = [str(gunicornc), "-s", str(socket), "-c", "show stats", "-j"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["pid"]


@pytest.mark.e2e
def test_two_gunicorns_of_one_user_keep_a_control_socket_each(
    bake_copy, baked_python, short_folder
):
    project = bake_copy()
    runtime = short_folder / "run"
    runtime.mkdir(mode=0o700)
    env = clean_env(
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL="sqlite://",
        XDG_RUNTIME_DIR=str(runtime),  # as the image and the systemd unit set it
        HOME=str(short_folder / "home"),
    )
    with servers.gunicorn(project, baked_python, env, workers=1) as first:
        with servers.gunicorn(project, baked_python, env, workers=1) as second:
            names = sorted(path.name for path in runtime.iterdir())
            assert names == sorted([socket_name(first), socket_name(second)])
            for server in (first, second):
                socket = runtime / socket_name(server)
                assert master_pid(baked_python, socket) == server.process.pid
        # The second has stopped; the first still answers on its own socket.
        assert [path.name for path in runtime.iterdir()] == [socket_name(first)]
        assert master_pid(baked_python, runtime / socket_name(first)) == first.process.pid


@pytest.mark.e2e
def test_a_bare_gunicorn_keeps_its_socket_in_its_users_home(bake_copy, baked_python, short_folder):
    project = bake_copy()
    home = short_folder / "home"
    env = clean_env(SECRET_KEY=secrets.token_hex(32), DATABASE_URL="sqlite://", HOME=str(home))
    env.pop("XDG_RUNTIME_DIR", None)
    with servers.gunicorn(project, baked_python, env, workers=1) as server:
        socket = home / ".gunicorn" / socket_name(server)
        assert master_pid(baked_python, socket) == server.process.pid


def test_the_image_and_the_systemd_unit_give_gunicorn_a_runtime_folder(bake_once):
    project = bake_once()
    assert "XDG_RUNTIME_DIR=/tmp" in (project / "Dockerfile").read_text()  # its user has no home
    unit = (project / "deploy" / f"{SLUG}.service").read_text().splitlines()
    assert f"RuntimeDirectory={SLUG}" in unit  # /run/my_flask_app, made and removed by systemd
    assert f"Environment=XDG_RUNTIME_DIR=/run/{SLUG}" in unit

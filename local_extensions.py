"""Jinja filters that write prompt answers as literals of the file's own language.

Cookiecutter loads this module through `_extensions` in cookiecutter.json. A value such as
`Jo "O'Brien"` must land in Python and TOML files unchanged and unable to break out of its
string, so no template writes a free-text answer between quotes of its own.
"""

import json

from jinja2.ext import Extension


def python_literal(value):
    """A Python string literal that reads back as `value`, quoted as ruff format would.

    Double quotes unless the text holds more double than single quotes, so that
    `ruff format --check` passes on the baked file whatever the value.
    """
    text = str(value)
    quote = "'" if text.count('"') > text.count("'") else '"'
    body = "".join(_escape(char, quote) for char in text)
    return f"{quote}{body}{quote}"


def _escape(char, quote):
    if char in ("\\", quote):
        return "\\" + char
    if not char.isprintable():
        return repr(char)[1:-1]
    return char


def toml_literal(value):
    """A TOML basic string: JSON's escapes are TOML's, but TOML also forbids a raw DEL."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


class LiteralExtension(Extension):
    """Adds the `python_literal` and `toml_literal` filters."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["python_literal"] = python_literal
        environment.filters["toml_literal"] = toml_literal

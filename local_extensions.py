"""Jinja filters that write prompt answers as literals of the file's own language.

Cookiecutter loads this module through `_extensions` in cookiecutter.json. A value such as
`Jo "O'Brien"` must land in Python and TOML files unchanged and unable to break out of its
string, so no template writes a free-text answer between quotes of its own.
"""

import json
import re

from jinja2.ext import Extension

# The baked project's [tool.ruff] line-length (tests/test_answers_lint.py checks they agree).
LINE_LENGTH = 99


def python_literal(value, line_start=""):
    """A Python string literal that reads back as `value`, quoted as ruff format would.

    Double quotes unless the text holds more double than single quotes, so that
    `ruff format --check` passes on the baked file whatever the value. `line_start` is
    what the line holds before the literal (`    APP_NAME = `): a literal too long for the
    rest of the line is wrapped in parentheses, in pieces that each fit, and marked
    `# fmt: skip` so that ruff format keeps the pieces whatever width it gives characters.
    """
    text = str(value)
    if _width(line_start) + _width(_quoted(text)) <= LINE_LENGTH:
        return _quoted(text)
    indent = " " * (len(line_start) - len(line_start.lstrip(" ")) + 4)
    lines = [f"{indent}{_quoted(piece)}" for piece in _pieces(text, LINE_LENGTH - len(indent))]
    return "(\n" + "\n".join(lines) + f"\n{indent[:-4]})  # fmt: skip"


def _quoted(text):
    quote = "'" if text.count('"') > text.count("'") else '"'
    body = "".join(_escape(char, quote) for char in text)
    return f"{quote}{body}{quote}"


def _escape(char, quote):
    if char in ("\\", quote):
        return "\\" + char
    if not char.isprintable():
        return repr(char)[1:-1]
    return char


def _width(text):
    """Columns the text can take at most: a character beyond ASCII may be a wide one."""
    return sum(1 if char.isascii() else 2 for char in text)


def _pieces(text, room):
    """Split text at spaces (inside a word when a word is too long) into pieces whose
    literals, quotes and escapes included, are at most `room` columns wide."""
    pieces, piece = [], ""
    for word in re.findall(r"\s*\S+\s*|\s+", text):
        for char in word if _width(_quoted(word)) > room else [word]:
            if piece and _width(_quoted(piece + char)) > room:
                pieces.append(piece)
                piece = ""
            piece += char
    return [*pieces, piece] if piece else pieces


def toml_literal(value):
    """A TOML basic string: JSON's escapes are TOML's, but TOML also forbids a raw DEL."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


class LiteralExtension(Extension):
    """Adds the `python_literal` and `toml_literal` filters."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["python_literal"] = python_literal
        environment.filters["toml_literal"] = toml_literal

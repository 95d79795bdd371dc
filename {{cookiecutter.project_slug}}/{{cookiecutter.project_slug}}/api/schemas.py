"""Request and response bodies: validation and the OpenAPI document both come from these.

The document says what the server refuses (lengths, patterns), so a client, and schemathesis,
can tell a request it will accept from one it will not.
"""

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ..auth import rules
from .models import aware

# A new username as the API takes it: the form's rule (rules.py), in ASCII letters of any case.
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,64}")


class Text(ma.fields.String):
    """A string UTF-8 can encode: JSON's escapes can make lone surrogates (\\udcd3), which
    neither the database nor the password hash can take."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ma.ValidationError("Not valid Unicode text.") from None
        return text


class Checked(Text):
    """A string checked and put in canonical form by one of auth/rules.py's checks: the same
    rules as the web forms and `flask create-user` (control characters refused, names
    compared without case)."""

    def __init__(self, check: Callable[[str], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.check(text)
        except rules.InvalidValue as error:
            raise ma.ValidationError(str(error)) from None


def new_username(text: str) -> str:
    """The registration form's rules, on a name the document's pattern describes exactly. A
    reserved name fits the pattern: the view answers it as a taken one (409), not as a
    request the document calls invalid."""
    if not USERNAME.fullmatch(text):
        raise rules.InvalidValue("Use 3 to 64 letters, digits, '.', '_' or '-'.")
    return rules.check_username(text, allow_reserved=True)


class UtcDateTime(ma.fields.DateTime):
    """An RFC 3339 date-time with its offset (SQLite returns datetimes without one)."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return super()._serialize(value and aware(value), attr, obj, **kwargs)


# Fields every response holds are `required` in the document, so that a generated client
# types them as always present (dump_only: the server writes them, a request cannot).
class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True, required=True)
    username = ma.fields.String(dump_only=True, required=True)
    created_at = UtcDateTime(dump_only=True, required=True)


class UserUpdateSchema(ma.Schema):
    username = Checked(
        new_username,
        required=True,
        metadata={
            "description": "3 to 64 letters, digits, '.', '_' or '-'; stored lower-case",
            "pattern": f"^{USERNAME.pattern}$",
        },
    )


class CredentialsSchema(ma.Schema):
    """Any name and password of these lengths is a fair try: one that breaks the rules of
    rules.py belongs to no account, so it gets the same 401 as any wrong password."""

    username = Text(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "The username or the email address"},
    )
    password = Text(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class TokenSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True, required=True)
    created_at = UtcDateTime(dump_only=True, required=True)
    expires_at = UtcDateTime(dump_only=True, required=True)


class NewTokenSchema(TokenSchema):
    token = ma.fields.String(
        attribute="secret",
        dump_only=True,
        required=True,
        metadata={"description": "The bearer token; shown only this once"},
    )

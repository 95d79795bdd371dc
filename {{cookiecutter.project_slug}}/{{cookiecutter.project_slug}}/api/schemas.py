"""Request and response bodies: validation and the OpenAPI document both come from these."""

import marshmallow as ma
from marshmallow import validate

from ..auth import rules
from .models import aware


class Checked(ma.fields.String):
    """A string checked and put in canonical form by one of auth/rules.py's checks: the same
    rules as the web forms and `flask create-user` (control characters refused, names
    compared without case)."""

    def __init__(self, check, **kwargs):
        super().__init__(**kwargs)
        self.check = check

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.check(text)
        except rules.InvalidValue as error:
            raise ma.ValidationError(str(error)) from None


def login_name(text):
    """A username or an email address, as the login form takes it."""
    return rules.canonical(rules.refuse_control_characters(text))


class UtcDateTime(ma.fields.DateTime):
    """An RFC 3339 date-time with its offset (SQLite returns datetimes without one)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(value and aware(value), attr, obj, **kwargs)


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    username = ma.fields.String(dump_only=True)
    created_at = UtcDateTime(dump_only=True)


class UserUpdateSchema(ma.Schema):
    username = Checked(
        rules.check_username,
        required=True,
        metadata={"description": "3 to 64 letters, digits, '.', '_' or '-'; stored lower-case"},
    )


class CredentialsSchema(ma.Schema):
    username = Checked(
        login_name,
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "The username or the email address"},
    )
    password = Checked(
        rules.refuse_control_characters,
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
    )


class TokenSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    expires_at = UtcDateTime(dump_only=True)


class NewTokenSchema(TokenSchema):
    token = ma.fields.String(
        attribute="secret",
        dump_only=True,
        metadata={"description": "The bearer token; shown only this once"},
    )

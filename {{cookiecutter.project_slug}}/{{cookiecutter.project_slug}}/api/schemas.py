"""Request and response bodies: validation and the OpenAPI document both come from these."""

import marshmallow as ma
from marshmallow import validate

from .models import aware


class UtcDateTime(ma.fields.DateTime):
    """An RFC 3339 date-time with its offset (SQLite returns datetimes without one)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(value and aware(value), attr, obj, **kwargs)


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    username = ma.fields.String(dump_only=True)
    created_at = UtcDateTime(dump_only=True)


class UserUpdateSchema(ma.Schema):
    # The same rules as the registration form (forms.RegisterForm).
    username = ma.fields.String(
        required=True,
        validate=[
            validate.Length(min=3, max=64),
            validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="Use letters, digits, '.', '_' or '-'."),
        ],
    )


class CredentialsSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
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

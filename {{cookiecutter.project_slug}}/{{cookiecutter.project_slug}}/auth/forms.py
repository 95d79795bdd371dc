"""The account forms. Flask-WTF adds a CSRF token to each; rules.py decides what is valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, StopValidation

from . import rules

if TYPE_CHECKING:
    from ..models import User


class Rule:
    """A WTForms validator from a rules.py check: on success the field holds the canonical
    value, so views store and compare what the rules return."""

    def __init__(self, check: Callable[[str], str]) -> None:
        self.check = check

    def __call__(self, form: FlaskForm, field: Field) -> None:
        try:
            field.data = self.check(field.data or "")
        except rules.InvalidValue as error:
            raise StopValidation(str(error)) from None


def no_control_characters(form: FlaskForm, field: Field) -> None:
    if isinstance(field.data, str):
        Rule(rules.refuse_control_characters)(form, field)


class Form(FlaskForm):
    """Every text field of every form refuses values over rules.FIELD_MAX characters, then
    control characters (NUL, newlines...), before its own checks."""

    account: User | None = None  # the user a new password is for: a view sets it

    def names(self) -> tuple[str | None, ...]:
        """The username and address a new password must not resemble."""
        return (self.account.username, self.account.email) if self.account else ()

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        # First of all: a long value stops here, before any check (Unicode normalisation,
        # address parsing, a password hash) spends time on it.
        too_long = [f for f in self if isinstance(f.data, str) and len(f.data) > rules.FIELD_MAX]
        for field in too_long:
            field.errors = [f"Use at most {rules.FIELD_MAX} characters."]
        if too_long:
            return False
        extra = {name: list(checks) for name, checks in (extra_validators or {}).items()}
        for field in self:
            extra.setdefault(field.name, []).insert(0, no_control_characters)
        return bool(super().validate(extra))


def strong_password(form: Form, field: Field) -> None:
    Rule(lambda text: rules.check_password(text, *form.names()))(form, field)


def new_password(label: str = "Password") -> PasswordField:
    return PasswordField(label, validators=[DataRequired(), strong_password])


def repeat_password() -> PasswordField:
    return PasswordField(
        "Repeat password", validators=[EqualTo("password", message="Passwords must match.")]
    )


def current_password() -> PasswordField:
    return PasswordField("Current password", validators=[DataRequired()])


class LoginForm(Form):
    username = StringField(
        "Username or email",
        validators=[DataRequired(), Length(max=254), Rule(rules.canonical)],
        # "webauthn": the browser offers the site's passkeys in the field's autofill.
        render_kw={"autocomplete": "username webauthn"},
    )
    password = PasswordField(
        "Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    remember = BooleanField("Remember me")
    submit = SubmitField("Log in")


class RegisterForm(Form):
    username = StringField("Username", validators=[DataRequired(), Rule(rules.check_username)])
    email = EmailField("Email", validators=[DataRequired(), Rule(rules.check_email)])
    password = new_password()
    confirm = repeat_password()
    submit = SubmitField("Register")

    def names(self) -> tuple[str | None, ...]:
        return (self.username.data, self.email.data)  # checked first: fields run in order


class ForgotPasswordForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Rule(rules.check_email)])
    submit = SubmitField("Send me a link")


class ResetPasswordForm(Form):
    password = new_password("New password")
    confirm = repeat_password()
    submit = SubmitField("Set the password")


class ChangePasswordForm(Form):
    current_password = current_password()
    password = new_password("New password")
    confirm = repeat_password()
    submit = SubmitField("Change the password")


class ChangeEmailForm(Form):
    email = EmailField("New email", validators=[DataRequired(), Rule(rules.check_email)])
    current_password = current_password()
    submit = SubmitField("Send a link to the new address")


class DeleteAccountForm(Form):
    current_password = current_password()
    submit = SubmitField("Delete my account")

"""The forms of the second factors' pages."""

from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Form


class CodeForm(Form):
    """A code from the authenticator app, or a recovery code."""

    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired(), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false"},
    )
    submit = SubmitField("Go on")


class EnrolTotpForm(Form):
    code = StringField(
        "Code the app shows now",
        validators=[DataRequired(), Length(max=8)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField("Turn on the authenticator app")


class ConfirmForm(Form):
    """The fresh check: the password, or a code (a passkey goes through the script)."""

    password = PasswordField(
        "Your password", validators=[Optional()], render_kw={"autocomplete": "current-password"}
    )
    code = StringField(
        "Or a code from your authenticator app, or a recovery code",
        validators=[Optional(), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )
    submit = SubmitField("Confirm")


class ButtonForm(Form):
    """A button that changes something: the CSRF token and nothing else."""

    submit = SubmitField("Go")


class PasskeyNameForm(Form):
    name = StringField(
        "Name of a new passkey",
        validators=[DataRequired(), Length(max=64)],
        default="My passkey",
    )

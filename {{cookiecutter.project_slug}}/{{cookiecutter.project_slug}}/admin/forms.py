"""The admin area's forms. The actions are buttons: a form with only its CSRF token."""

from wtforms import PasswordField, SearchField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ..auth.forms import Form, Rule
from ..auth.rules import canonical


class SearchForm(Form):
    """GET /admin/users?q=...: a search changes nothing, so it has no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField("Username or email", validators=[Length(max=254), Rule(canonical)])


class ActionForm(Form):
    """One button: disable, re-enable, end sessions, resend the verification mail."""


class DeleteForm(Form):
    username = StringField("Type the username to confirm", validators=[DataRequired()])
    current_password = PasswordField("Your own password", validators=[DataRequired()])
    submit = SubmitField("Delete this account")

"""Accounts: sign up with a verified email address, log in and out, reset and change the
password, change the address, delete the account.

routes.py holds the views, forms.py their forms, rules.py the rules a username, an address
and a password must follow (the `flask create-user` command uses them too), tokens.py the
signed links sent by email and email.py the mails themselves.
"""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from . import routes  # noqa: E402, F401  (the views register themselves on bp)
from .factors import routes as factor_routes  # noqa: E402, F401  (second factors' views)

"""Flask extensions, created unbound here and bound to the app in create_app()."""

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from .mail import Mail
from .ratelimit import limiter as limiter  # with the views no limit applies to


class Base(DeclarativeBase):
    """Base class of the SQLAlchemy models."""


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
mail = Mail()

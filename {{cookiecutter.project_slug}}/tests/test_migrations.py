import os
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import Migrate, downgrade, upgrade
from sqlalchemy import inspect

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.extensions import db

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def test_migrations_build_the_schema_of_the_models_and_undo_it(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'app.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    Migrate(app, db, directory=str(MIGRATIONS))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert differences == []
    assert tables == set()

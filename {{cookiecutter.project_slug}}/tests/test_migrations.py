import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import Migrate, downgrade, upgrade
from sqlalchemy import inspect, text

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User, load_user

MIGRATIONS = Path(__file__).parent.parent / "migrations"


@pytest.fixture
def migrated_app(tmp_path):
    """An app on an empty database that only the migrations will fill: an SQLite file, or
    TEST_DATABASE_URL's database (emptied again afterwards)."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'app.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    Migrate(app, db, directory=str(MIGRATIONS))
    with app.app_context():
        yield app
        db.session.remove()
        downgrade(revision="base")
        db.engine.dispose()


def differences_from_the_models():
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def test_migrations_build_the_schema_of_the_models(migrated_app):
    upgrade()
    assert differences_from_the_models() == []


def test_downgrade_to_base_removes_every_table(migrated_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) - {"alembic_version"} == set()
    upgrade()  # the fixture downgrades again


def test_downgrade_and_upgrade_again(migrated_app):
    upgrade()
    downgrade(revision="0001")
    assert "email" not in {column["name"] for column in inspect(db.engine).get_columns("user")}
    upgrade()
    assert differences_from_the_models() == []


def test_a_deleted_users_id_is_not_reused(migrated_app):
    upgrade()
    for name in ("ada", "bob"):
        db.session.add(User(username=name, email=f"{name}@example.com", password_hash="x"))
    db.session.commit()
    db.session.delete(db.session.get(User, 2))
    db.session.commit()
    newcomer = User(username="eve", email="eve@example.com", password_hash="x")
    db.session.add(newcomer)
    db.session.commit()
    assert newcomer.id == 3


def test_existing_users_keep_working_after_the_upgrade(migrated_app):
    upgrade(revision="0001")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                'INSERT INTO "user" (username, password_hash, created_at) '
                "VALUES ('Ada', 'x', '2026-01-01'), ('bob', 'x', '2026-01-01')"
            )
        )
    upgrade()
    ada, bob = db.session.query(User).order_by(User.id)
    assert ada.username == "ada"  # the canonical form logins look up
    assert ada.email is None and not ada.email_verified
    assert ada.session_token and ada.session_token != bob.session_token
    assert load_user(ada.get_id()) is ada


def test_accounts_with_an_address_no_mail_can_reach_log_in_after_the_upgrade(migrated_app):
    """Sign-up once took `bоb@example.com` (a Cyrillic о): its account could never be
    verified nor log in. The upgrade takes the address away; the account keeps the rest."""
    upgrade(revision="0002")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                'INSERT INTO "user" (username, email, email_verified, password_hash, '
                "session_token, created_at) VALUES "
                "('bob', 'b\u043eb@example.com', false, 'x', 't1', '2026-01-01'), "
                "('ada', 'ada@ex\u00e4mple.com', true, 'x', 't2', '2026-01-01')"
            )
        )
    upgrade()
    bob, ada = db.session.query(User).order_by(User.id)
    assert (bob.email, bob.email_verified, bob.is_admin) == (None, False, False)
    assert (ada.email, ada.email_verified, ada.is_admin) == ("ada@ex\u00e4mple.com", True, False)
    assert load_user(bob.get_id()) is bob


def test_accounts_made_before_the_admin_area_stay_as_they_were(migrated_app):
    upgrade(revision="0005")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                'INSERT INTO "user" (username, email, email_verified, is_admin, password_hash, '
                "session_token, created_at) VALUES "
                "('ada', 'ada@example.com', true, true, 'x', 't1', '2026-01-01'), "
                "('bob', NULL, false, false, 'x', 't2', '2026-01-01')"
            )
        )
    upgrade()
    ada, bob = db.session.query(User).order_by(User.id)
    assert (ada.username, ada.is_admin, ada.email_verified) == ("ada", True, True)
    assert ada.is_active and bob.is_active and ada.last_login_at is None
    assert load_user(ada.get_id()) is ada and load_user(bob.get_id()) is bob
    assert inspect(db.engine).get_columns("audit_event")
    db.session.remove()  # PostgreSQL: an open transaction would hold the table's lock
    downgrade(revision="0005")
    assert "audit_event" not in inspect(db.engine).get_table_names()
    assert "disabled_at" not in {c["name"] for c in inspect(db.engine).get_columns("user")}
    assert [row.username for row in db.session.execute(text('SELECT username FROM "user"'))] == [
        "ada",
        "bob",
    ]
    db.session.remove()
    upgrade()


def test_accounts_get_their_skeletons_and_old_look_alikes_stay(migrated_app):
    """0009: every account gets its confusable skeletons; of two that look alike already, the
    later keeps its name and address but no skeleton, and nobody new can join them."""
    upgrade(revision="0008")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                'INSERT INTO "user" (username, email, email_verified, is_admin, password_hash, '
                "session_token, created_at) VALUES "
                "('root', 'root@example.com', true, true, 'x', 't1', '2026-01-01'), "
                "('r00t', 'root@examp1e.com', true, false, 'x', 't2', '2026-01-01')"
            )
        )
    upgrade()
    root, look_alike = db.session.query(User).order_by(User.id)
    assert (root.username_skeleton, root.email_skeleton) == ("root", "root@example.com")
    assert (look_alike.username, look_alike.email) == ("r00t", "root@examp1e.com")
    assert (look_alike.username_skeleton, look_alike.email_skeleton) == (None, None)
    assert differences_from_the_models() == []


def test_the_chain_of_migrations_is_whole():
    """One head and one base, whichever files the bake kept (0003 is the API's)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == ["0009"]
    assert scripts.get_bases() == ["0001"]
    chain = [script.revision for script in scripts.walk_revisions()]
    assert chain[0] == "0009" and chain[-1] == "0001"

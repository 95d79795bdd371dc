"""PostgreSQL connections that stop waiting for a server that no longer answers.

libpq has no read timeout: a query sent to a server whose processes are frozen (a hung host,
a stopped container, a VM being migrated) waits for ever while the kernel keeps the
connection open, and Gunicorn kills the worker 30 s later. psycopg can bound each wait for
the server, so every connection here gets a limit:

- a pooled connection's check before use (SQLAlchemy's pre-ping): DATABASE_TIMEOUT;
- a query of a served request: DATABASE_STATEMENT_TIMEOUT + DATABASE_TIMEOUT (the server's
  own statement timeout fires first when the server still answers); `flask` commands have none.

A connection that passed its limit is closed: SQLAlchemy then takes it for a lost connection,
the pool opens new ones (within `connect_timeout`), and the visitor gets the 503 page.
"""

from typing import Any

import psycopg
from flask import Flask
from psycopg.abc import RV, PQGen
from psycopg.errors import _WaitTimeout
from sqlalchemy import event

from .config import serving
from .extensions import db


class Connection(psycopg.Connection[Any]):
    """psycopg's connection, with a limit (seconds) on each wait for the server."""

    limit: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        limit = timeout if timeout is not None else self.limit
        try:
            return super().wait(gen, interval, limit)
        except _WaitTimeout:
            self.close()  # in the middle of a query: unusable
            raise psycopg.errors.ConnectionTimeout(
                f"the database did not answer within {limit:g} s"
            ) from None


def init_app(app: Flask) -> None:
    """Give the app's PostgreSQL connections their limits (no-op for another database)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.driver != "psycopg":
        return
    check = float(app.config["DATABASE_TIMEOUT"])
    statement = app.config.get("DATABASE_STATEMENT_TIMEOUT")
    query = statement + check if serving() and statement else None

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Connection:
        connection = Connection.connect(*cargs, **cparams)
        connection.limit = query
        return connection

    @event.listens_for(engine, "checkin")
    def checked_in(connection: Any, record: Any) -> None:
        if isinstance(connection, Connection):
            connection.limit = check  # for the pre-ping at the next checkout

    @event.listens_for(engine, "checkout")
    def checked_out(connection: Any, record: Any, proxy: Any) -> None:
        if isinstance(connection, Connection):
            connection.limit = query

"""What one anonymous page view touches: SQL statements, a session cookie, files opened.

Run by profile_app.py with the baked project's venv, in the project folder, with the production
environment. Each page is requested once to warm caches (Jinja compiles a template on first use),
then audited on a fresh client, as a first-time visitor arrives. Prints JSON.
"""

import importlib
import json
import os
import sys

from sqlalchemy import event

WATCHING = False
opened = []
statements = []


def watch_opens(event_name, args):
    if WATCHING and event_name == "open":
        opened.append(str(args[0]))


def audit(app, page):
    global WATCHING
    app.test_client().get(page)
    opened.clear()
    statements.clear()
    WATCHING = True
    response = app.test_client().get(page)
    WATCHING = False
    return {
        "status": response.status_code,
        "sql": list(statements),
        "sets_cookie": "Set-Cookie" in response.headers,
        "opened": list(opened),
    }


def main(package, pages):
    app = importlib.import_module(package).create_app()
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    sys.addaudithook(watch_opens)
    print(json.dumps({page: audit(app, page) for page in pages}))


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())  # the baked project's folder: its package is not installed
    main(sys.argv[1], sys.argv[2:])

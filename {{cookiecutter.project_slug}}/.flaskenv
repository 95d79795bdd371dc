# Public settings for the flask command. Secrets belong in .env, which is never committed.
FLASK_APP={{ cookiecutter.project_slug }}

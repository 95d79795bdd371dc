# Public settings for the flask command. Secrets belong in .env, which is never committed.
FLASK_APP={{ cookiecutter.project_slug }}
# The flask command in a checkout means development; .env may say otherwise. Gunicorn reads
# neither file, so it runs production settings unless told.
APP_CONFIG=development

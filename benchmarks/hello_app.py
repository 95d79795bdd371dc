"""The bare floor for throughput: one Flask route, no extensions, served like the baked app."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello, World!"

"""The baseline: a bare Flask JSON endpoint, served by the same gunicorn configuration."""

from flask import Flask, jsonify


def create_bare_app() -> Flask:
    app = Flask("bare")

    @app.get("/bare")
    def bare():
        return jsonify({"message": "ok"})

    return app

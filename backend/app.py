"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from backend.api import register_api
from backend.settings import Settings
from backend.wiring import Services, build_services


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the app; with no arguments, settings come from the environment."""
    if services is None:
        services = build_services(settings or Settings.from_env())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = services.settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["vitrine"] = services
    register_api(app)
    return app

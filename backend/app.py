"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from backend.api import register_api
from backend.api.contract import ContractApp
from backend.api.observability import install_observability
from backend.api.requests import MAX_FORM_PARTS
from backend.catalog.schema import ID_MAX
from backend.errors import NotFound
from backend.settings import Settings
from backend.web import register_page
from backend.wiring import Services, build_services


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the app; with no arguments, settings come from the environment."""
    if services is None:
        services = build_services(settings or Settings.from_env())
    app = ContractApp(__name__)
    app.json = SafeJSONProvider(app)
    app.url_map.converters["id"] = IdConverter
    app.before_request(reject_impossible_ids)
    app.config["MAX_CONTENT_LENGTH"] = services.settings.max_upload_bytes
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    app.extensions["vitrine"] = services
    register_api(app)
    register_page(app)
    install_observability(app)
    return app


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply is malformed JSON (a 400), not a RecursionError."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class IdConverter(IntegerConverter):
    """A row id in a URL: any digits here, range-checked by `reject_impossible_ids` after routing.

    Checking the range in the converter would make werkzeug answer 405 for a path that another
    method's rule matches; after routing, every method gets the same 404.
    """


def reject_impossible_ids() -> None:
    """An id no database column can hold names nothing: 404 before any query is built."""
    for name, value in (request.view_args or {}).items():
        if name.endswith("_id") and isinstance(value, int) and not 1 <= value <= ID_MAX:
            raise NotFound(f"no {name.removesuffix('_id')} {value}", details={"field": name})

"""Serves the page at `/` and its files under `/page/`; the page itself only calls the API.

Everything the page needs ships in `static/` (HTML, CSS, JavaScript modules), so it works with
no build step and no internet access. The Content-Security-Policy makes the browser hold the
page to that: it may load and call only this server.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory

STATIC = Path(__file__).parent / "static"
# Only this server: scripts, styles, images (blob: for the shopper's own photo before upload), calls.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Not /static: the Flask app keeps that path for its own (empty) static folder, and its rule wins.
blueprint = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/page")


@blueprint.get("/")
def index() -> Response:
    """The page; its views are chosen by the URL's fragment (`#/product/7`, `#/admin`)."""
    return send_from_directory(STATIC, "index.html")


@blueprint.after_request
def protect(response: Response) -> Response:
    """The page and its files may reach nothing but this server, and no other site may frame them."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def register_page(app: Flask) -> None:
    """Serve the page beside the API."""
    app.register_blueprint(blueprint)

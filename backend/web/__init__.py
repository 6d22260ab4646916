"""The web page for shoppers and shop admins: static files over the public API, no build step."""

from __future__ import annotations

from backend.web.page import register_page

__all__ = ["register_page"]

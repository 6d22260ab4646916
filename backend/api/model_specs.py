"""Which models an HTTP request may name: registered names, the configured one, or checkpoints in one folder.

The CLI may load any file its user can read; a request may not, or any file the server can
read would be opened (and the loader's errors would say whether it exists and what it starts
with). Names outside what is allowed get one 400 whatever is on disk.
"""

from __future__ import annotations

from backend.errors import InvalidRequest, Unavailable
from backend.json_values import is_unicode_text
from backend.settings import Settings
from backend.wiring import Services
from embedder.architectures import ARCHITECTURES


def allowed_model_spec(spec: str, services: Services, active_spec: str | None) -> str:
    """The spec to load for a requested model, or InvalidRequest; the model is loaded to check it."""
    resolved = _resolve(spec, services.settings, active_spec)
    try:
        services.models.get(resolved)
    except Unavailable as error:
        raise InvalidRequest(
            f"model {spec!r} cannot be loaded: {error.message}", details={"field": "model"}
        ) from error
    return resolved


def _resolve(spec: str, settings: Settings, active_spec: str | None) -> str:
    if not is_unicode_text(spec) or any(ord(character) < 32 for character in spec):
        # a NUL or a lone surrogate cannot name a file (the path calls below would raise)
        raise InvalidRequest(
            "the model name holds control characters or invalid text", details={"field": "model"}
        )
    if spec in ARCHITECTURES or spec in (settings.model, active_spec):
        return spec
    architecture, separator, file_name = spec.partition(":")
    if not separator or architecture not in ARCHITECTURES:
        architecture, file_name = "", spec
    folder = settings.model_folder.resolve()
    path = (folder / file_name).resolve()
    if file_name and path.is_relative_to(folder) and path.is_file():
        return f"{architecture}:{path}" if architecture else str(path)
    raise InvalidRequest(
        f"unknown model {spec!r}: name one of {', '.join(ARCHITECTURES)}, the configured model, "
        "or a checkpoint file in the models folder (VITRINE_MODELS_DIR)",
        details={"field": "model"},
    )

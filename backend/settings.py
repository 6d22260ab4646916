"""Settings, read from the environment in one place when asked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = "var/vitrine"


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {value!r}")


def _parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _parse_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one Vitrine deployment."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str = ""
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    collection_prefix: str = "vitrine"
    model: str = "efficientnet_lite0"
    allow_weight_download: bool = False
    # "auto" runs each model on the backend measured faster on CPU (docs/performance.md).
    inference_backend: str = "auto"
    # Embedded engine when no QDRANT_URL: Qdrant Edge, or qdrant-client's local mode (docs/search-engines.md).
    embedded_engine: str = "edge"
    admin_token: str | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_results: int = 100
    embed_batch_size: int = 32
    # Connections one process may hold to a database server: each request thread holds one for a
    # whole search, so `vitrine serve` raises this to its thread count and a few more.
    database_connections: int = 10
    # The only folder whose checkpoints a request may name (POST /admin/sync); default <data dir>/models.
    models_dir: Path | None = None
    # Set by `vitrine serve` for its workers: the socket of the process that owns the embedded
    # store (backend/vectors/store_process.py) and the secret it checks. Not for users to set.
    store_address: str | None = None
    store_authkey: str | None = field(default=None, repr=False)
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_url:
            database_path = (self.data_dir / "catalog.sqlite3").resolve()
            object.__setattr__(self, "database_url", f"sqlite:///{database_path}")

    @property
    def image_dir(self) -> Path:
        """Folder of the content-addressed image store."""
        return self.data_dir / "images"

    @property
    def model_folder(self) -> Path:
        """Where checkpoints that POST /admin/sync may switch to live."""
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def edge_path(self) -> Path:
        """Folder of the embedded Qdrant Edge shards (the default without qdrant_url)."""
        return self.data_dir / "edge"

    @property
    def qdrant_path(self) -> Path:
        """Folder of qdrant-client's local mode (embedded_engine "local", without qdrant_url)."""
        return self.data_dir / "qdrant"

    @property
    def vector_store_location(self) -> str:
        """Where the vectors live: the server's URL, or the embedded engine's folder."""
        if self.qdrant_url:
            return self.qdrant_url
        return str(self.qdrant_path if self.embedded_engine == "local" else self.edge_path)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (VITRINE_*, DATABASE_URL, QDRANT_URL)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            data_dir=Path(env.get("VITRINE_DATA_DIR", DEFAULT_DATA_DIR)),
            database_url=env.get("DATABASE_URL", ""),
            qdrant_url=env.get("QDRANT_URL") or None,
            qdrant_api_key=env.get("QDRANT_API_KEY") or None,
            collection_prefix=env.get("VITRINE_COLLECTION_PREFIX", defaults.collection_prefix),
            model=env.get("VITRINE_MODEL", defaults.model),
            models_dir=Path(env["VITRINE_MODELS_DIR"]) if env.get("VITRINE_MODELS_DIR") else None,
            allow_weight_download=_parse_bool(
                "VITRINE_ALLOW_WEIGHT_DOWNLOAD", env.get("VITRINE_ALLOW_WEIGHT_DOWNLOAD", "")
            ),
            inference_backend=_parse_choice(
                "VITRINE_INFERENCE_BACKEND",
                env.get("VITRINE_INFERENCE_BACKEND", defaults.inference_backend),
                ("auto", "torch", "onnx"),
            ),
            embedded_engine=_parse_choice(
                "VITRINE_EMBEDDED_ENGINE",
                env.get("VITRINE_EMBEDDED_ENGINE", defaults.embedded_engine),
                ("edge", "local"),
            ),
            admin_token=env.get("VITRINE_ADMIN_TOKEN") or None,
            store_address=env.get("VITRINE_STORE_ADDRESS") or None,
            store_authkey=env.get("VITRINE_STORE_AUTHKEY") or None,
            database_connections=max(
                1,
                _parse_int(
                    "VITRINE_DATABASE_CONNECTIONS",
                    env.get("VITRINE_DATABASE_CONNECTIONS", str(defaults.database_connections)),
                ),
            ),
            max_upload_bytes=_parse_int(
                "VITRINE_MAX_UPLOAD_BYTES",
                env.get("VITRINE_MAX_UPLOAD_BYTES", str(defaults.max_upload_bytes)),
            ),
            embed_batch_size=_parse_int(
                "VITRINE_EMBED_BATCH_SIZE",
                env.get("VITRINE_EMBED_BATCH_SIZE", str(defaults.embed_batch_size)),
            ),
            max_image_pixels=_parse_int(
                "VITRINE_MAX_IMAGE_PIXELS",
                env.get("VITRINE_MAX_IMAGE_PIXELS", str(defaults.max_image_pixels)),
            ),
        )

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]

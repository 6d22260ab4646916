from pathlib import Path

import pytest

from backend.settings import Settings


def test_defaults_use_sqlite_under_the_data_dir() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("var/vitrine/catalog.sqlite3")
    assert settings.qdrant_url is None
    assert settings.embedded_engine == "edge"
    assert settings.vector_store_location == str(Path("var/vitrine/edge"))
    local = Settings.from_env({"VITRINE_EMBEDDED_ENGINE": "local"})
    assert local.vector_store_location == str(Path("var/vitrine/qdrant"))
    assert settings.model == "efficientnet_lite0"
    assert settings.admin_token is None


def test_environment_selects_the_production_pair() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://app@db/vitrine",
            "QDRANT_URL": "http://qdrant:6333",
            "VITRINE_ADMIN_TOKEN": "secret",
            "VITRINE_MAX_UPLOAD_BYTES": "1000",
            "VITRINE_ALLOW_WEIGHT_DOWNLOAD": "yes",
        }
    )
    assert settings.database_url == "postgresql+psycopg://app@db/vitrine"
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.admin_token == "secret"
    assert settings.max_upload_bytes == 1000
    assert settings.allow_weight_download is True


@pytest.mark.parametrize(
    ("name", "value"),
    [("VITRINE_MAX_UPLOAD_BYTES", "ten"), ("VITRINE_ALLOW_WEIGHT_DOWNLOAD", "maybe")],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_inference_backend_is_auto_by_default_and_validated() -> None:
    assert Settings.from_env({}).inference_backend == "auto"
    assert Settings.from_env({"VITRINE_INFERENCE_BACKEND": "torch"}).inference_backend == "torch"
    with pytest.raises(ValueError, match="VITRINE_INFERENCE_BACKEND"):
        Settings.from_env({"VITRINE_INFERENCE_BACKEND": "tpu"})


def test_the_inference_backend_setting_reaches_the_loaded_model(tmp_path: Path) -> None:
    """`auto` runs EfficientNet-Lite0 on ONNX Runtime; `torch` must keep it on PyTorch."""
    from backend.wiring import build_services
    from embedder.onnx_backend import OnnxBackbone

    settings = Settings.from_env({"VITRINE_DATA_DIR": str(tmp_path), "VITRINE_INFERENCE_BACKEND": "torch"})
    services = build_services(settings)
    try:
        assert services.models.backend == "torch"
        assert not isinstance(services.models.get().model, OnnxBackbone)
    finally:
        services.close()


def test_database_connections_come_from_the_environment() -> None:
    assert Settings.from_env({}).database_connections == 10
    assert Settings.from_env({"VITRINE_DATABASE_CONNECTIONS": "20"}).database_connections == 20
    assert Settings.from_env({"VITRINE_DATABASE_CONNECTIONS": "0"}).database_connections == 1

"""`vitrine train --from-catalog` end to end: a catalog in PostgreSQL, a checkpoint, a sync to it, search."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from backend.app import create_app
from backend.cli.commands import main
from backend.demo.sample_catalog import write_query_photo, write_sample_catalog
from backend.settings import Settings
from backend.wiring import build_services
from embedder.checkpoint import load_checkpoint
from embedder.datasets import image_folder
from tests.backend.deployments import ADMIN_TOKEN, embedded_default_env

# A ResNet-18 from scratch at 32 pixels: seconds on a CPU, and no weights to download.
TINY_RUN = [
    "--arch", "resnet18", "--method", "supcon", "--from-scratch", "--image-size", "32", "--epochs", "1",
    "--batch-size", "8", "--photos-per-product", "2", "--threads", "1", "--workers", "0",
]  # fmt: skip


def test_train_from_the_catalog_then_sync_and_search_with_the_new_model(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    data_dir = tmp_path / "data"
    # Torch inference: an ONNX export of the new checkpoint would only slow the test.
    env = {
        **embedded_default_env(data_dir),
        "DATABASE_URL": fresh_postgres_url,
        "VITRINE_INFERENCE_BACKEND": "torch",
    }

    def vitrine(*arguments: str) -> Result:
        """A command as a user runs it, in this process (a subprocess would import torch again)."""
        return CliRunner().invoke(main, list(arguments), env=env)

    catalog = write_sample_catalog(tmp_path / "sample")  # 24 products, two photos each
    for command in (["migrate"], ["import", str(catalog), "--images", str(tmp_path / "sample" / "images")]):
        result = vitrine(*command)
        assert result.exit_code == 0, result.output

    trained = vitrine(
        "train",
        "--from-catalog",
        "--val-fraction",
        "0.25",
        "--out",
        str(data_dir / "models" / "shapes"),
        *TINY_RUN,
    )
    assert trained.exit_code == 0, trained.output
    best = data_dir / "models" / "shapes" / "best.pt"
    assert best.is_file()
    assert 'POST /admin/sync {"model": "shapes/best.pt"}' in trained.stdout
    split = json.loads((best.parent / "split.json").read_text())
    assert (split["validation_products"], split["validation_photos"], split["train_photos"]) == (6, 12, 36)
    # The validation products' photos are nowhere in what training read.
    export = Path(split["export"])
    trained_on = {path.resolve() for path in image_folder(export / "train").paths}
    held_out = {path.resolve() for path in image_folder(export / "val").paths}
    assert len(held_out) == 12 and not trained_on & held_out
    history = load_checkpoint(best).metrics["history"]
    assert [entry["epoch"] for entry in history] == [0, 1] and "recall@1" in history[1]

    synced = vitrine("sync", "--model", str(best))
    assert synced.exit_code == 0, synced.output
    report = json.loads(synced.stdout)
    assert (report["embedded"], report["active"]) == (48, True)
    query = write_query_photo(tmp_path, "TRI-BLU")
    found = vitrine("search", str(query), "--limit", "3")
    assert found.exit_code == 0, found.output
    assert len([line for line in found.stdout.splitlines() if "score=" in line]) == 3

    # Over HTTP, the checkpoint is named relative to the models folder.
    services = build_services(Settings.from_env(env))
    try:
        client = create_app(services=services).test_client()
        answer = client.post(
            "/admin/sync",
            json={"model": "shapes/best.pt"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert answer.status_code == 200, answer.get_json()
        assert (answer.get_json()["embedded"], answer.get_json()["active"]) == (0, True)
        _collection, embedder = services.search.active()
        assert embedder.info.dimension == 512  # ResNet-18's features, not EfficientNet-Lite0's 1280
    finally:
        services.close()


def test_options_the_export_owns_or_an_unknown_label_field_are_usage_errors() -> None:
    for arguments, message in (
        (["--data", "photos/"], "sets --data, --val-data, --val-mode itself: drop --data"),
        (["--val-mode=seen"], "drop --val-mode=seen"),
        (["--label-field", "price"], "label field must be one of product, category, brand or attr.<name>"),
    ):
        result = CliRunner().invoke(main, ["train", "--from-catalog", *arguments, *TINY_RUN])
        assert result.exit_code == 2 and message in result.output, result.output

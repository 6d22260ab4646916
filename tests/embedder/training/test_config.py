"""Tests for the training settings read from the command line."""

from pathlib import Path

import pytest

from embedder.training.config import TrainConfig, parse_args


def test_command_line_arguments_make_a_config() -> None:
    required = ["--arch", "resnet50", "--method", "simclr", "--data", "photos", "--out", "out"]
    config = parse_args(
        [*required, "--from-scratch", "--image-size", "128", "--patience", "0", "--freeze-stages", "2"]
    )
    assert config.arch == "resnet50" and config.data == Path("photos") and config.from_scratch
    assert config.image_size == 128 and config.patience is None and config.freeze_stages == 2
    assert config.learning_rate == 1e-3
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SystemExit):
        parse_args([*required, "--from-scratch", "--weights", "w.pth"])  # one or the other


def test_metric_learning_methods_and_their_options_are_checked() -> None:
    required = ["--arch", "efficientnet_lite0", "--data", "photos", "--out", "out"]
    config = parse_args([*required, "--method", "proxyanchor", "--embedding-dim", "256", "--catalog-anchors"])
    assert config.method == "proxyanchor" and config.embedding_dim == 256 and config.catalog_anchors
    assert config.embedding_dimension == 256 and config.proxy_learning_rate == pytest.approx(1e-2)
    assert TrainConfig.from_dict(config.to_dict()) == config
    default = parse_args([*required, "--method", "multisimilarity"])
    assert default.embedding_dim is None and default.embedding_dimension == 1280
    assert not default.catalog_anchors

    def make(**changes: object) -> TrainConfig:
        return TrainConfig(
            "resnet18", **{"method": "multisimilarity", "data": Path("."), "out": Path("."), **changes}
        )  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="multiple of photos_per_product"):
        make(method="proxyanchor", batch_size=30, photos_per_product=4)
    with pytest.raises(ValueError, match="embedding_dim must be positive"):
        make(embedding_dim=0)
    for method in ("supervised", "simclr"):
        with pytest.raises(ValueError, match="P x K batches"):
            make(method=method, catalog_anchors=True)
    assert make(method="supcon", catalog_anchors=True).catalog_anchors
    with pytest.raises(SystemExit):
        parse_args([*required, "--method", "arcface"])

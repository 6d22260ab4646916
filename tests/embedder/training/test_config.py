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

"""Tests for whole training runs: checkpoints, resuming, and a best.pt that loads as an embedder."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import embedder.training.main
from embedder import load_embedder
from embedder.training.loop import train_one_epoch as real_train_one_epoch
from embedder.training.main import train
from tests.embedder.training.conftest import tiny_config


def test_train_checkpoints_resumes_and_saves_a_loadable_embedder(
    tiny_trees: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(tiny_trees, tmp_path / "run")
    best = train(config)
    state = torch.load(config.out / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and [entry["epoch"] for entry in state["history"]] == [0, 1]
    assert (config.out / "training.png").is_file()
    with pytest.raises(FileExistsError, match="--resume"):
        train(replace(config, epochs=2))
    with pytest.raises(ValueError, match="lr"):
        train(replace(config, epochs=2, resume=True, lr=0.5))

    assert train(replace(config, epochs=2, resume=True)) == best
    state = torch.load(config.out / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and [entry["epoch"] for entry in state["history"]] == [0, 1, 2]

    embedder = load_embedder(str(best))
    assert embedder.info.dimension == 512 and embedder.preprocessing.crop == 32
    vectors = embedder.embed_paths(sorted(tiny_trees[1].rglob("*.jpg"))[:3])
    assert vectors.shape == (3, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_resuming_repeats_an_uninterrupted_run(
    tiny_trees: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = tiny_config(tiny_trees, tmp_path / "straight", epochs=2, method="simclr", val_data=None)
    train(straight)
    interrupted = replace(straight, out=tmp_path / "interrupted")
    epochs_begun = 0

    def crash_in_epoch_two(*args: Any, **kwargs: Any) -> float:
        nonlocal epochs_begun
        epochs_begun += 1
        if epochs_begun == 2:
            raise KeyboardInterrupt
        return real_train_one_epoch(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(embedder.training.main, "train_one_epoch", crash_in_epoch_two)
        with pytest.raises(KeyboardInterrupt):
            train(interrupted)
    train(replace(interrupted, resume=True))
    straight_history, resumed_history = (
        torch.load(run.out / "last.pt", weights_only=True)["history"] for run in (straight, interrupted)
    )
    assert [entry["epoch"] for entry in resumed_history] == [1, 2]
    assert resumed_history[1]["loss"] == pytest.approx(straight_history[1]["loss"], rel=1e-4)

"""Tests for a run's optimiser set-up and a few real training steps."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from embedder.efficientnet_lite import EfficientNetLite0
from embedder.images import load_image
from embedder.preprocessing import Preprocessing
from embedder.registry import plain_weights_preprocessing
from embedder.training.config import TrainConfig
from embedder.training.data import load_training_data
from embedder.training.loop import TrainingRun, train_one_epoch, validate
from embedder.training.nt_xent_loss import NTXentLoss
from tests.embedder.training.conftest import PRODUCTS, tiny_config


def test_pretrained_lite0_trains_only_its_unfrozen_stages() -> None:
    config = TrainConfig("efficientnet_lite0", "supcon", Path("."), Path("."), freeze_stages=6)
    run = TrainingRun.start(config, class_count=3, steps_per_epoch=1)
    trained = {id(p) for p in run.optimizer.param_groups[0]["params"]}
    backbone = run.backbone
    assert isinstance(backbone, EfficientNetLite0)
    # Stages 6 and 7 are the last five blocks: 4 of 192 channels and 1 of 320.
    assert all(id(p) in trained for block in backbone._blocks[-5:] for p in block.parameters())
    assert not any(id(p) in trained for block in backbone._blocks[:-5] for p in block.parameters())
    assert all(id(p) in trained for p in backbone._conv_head.parameters())
    assert [group["lr"] for group in run.optimizer.param_groups] == pytest.approx([1e-4, 1e-3])


@pytest.mark.parametrize("method", ["supervised", "supcon"])
def test_a_few_training_steps_reduce_the_loss(tiny_trees: tuple[Path, Path], method: str) -> None:
    config = tiny_config(tiny_trees, Path("unused"), method=method, lr=1e-3)
    run = TrainingRun.start(config, len(PRODUCTS), steps_per_epoch=7)
    data = load_training_data(config.data)
    preprocessing = replace(plain_weights_preprocessing(config.arch), resize=36, crop=32)
    images = torch.stack([preprocessing.to_tensor(load_image(path)) for path in data.train.paths])
    labels = torch.tensor(data.train.labels)
    batch = (images, labels) if method == "supervised" else (images, images.flip(-1), labels)
    loss_function: nn.Module = (
        nn.CrossEntropyLoss(label_smoothing=0.1) if method == "supervised" else NTXentLoss()
    )

    def steps(count: int) -> float:
        return train_one_epoch(run, [batch] * count, loss_function, "test")

    before = steps(1)  # the loss is taken before the step's update
    steps(5)
    assert steps(1) < 0.8 * before


def test_validation_scores_the_backbone_and_leaves_it_training(tiny_trees: tuple[Path, Path]) -> None:
    config = tiny_config(tiny_trees, Path("unused"))
    data = load_training_data(config.data, config.val_data)
    run = TrainingRun.start(config, len(PRODUCTS), steps_per_epoch=1)
    run.set_training_mode()
    preprocessing = replace(plain_weights_preprocessing(config.arch), resize=36, crop=32)
    metrics = validate(run.backbone, data, preprocessing, config)
    assert list(metrics) == ["recall@1", "recall@5", "map@r"]
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    # The scores come from a copy: the backbone being trained keeps its mode and its gradients.
    assert run.backbone.training and all(p.requires_grad for p in run.backbone.parameters())


class CentredMeanColour(nn.Module):
    """Features a test can compute by hand: the image's mean RGB in [-0.5, 0.5], zero-padded to 512."""

    def __init__(self, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocessing.mean).view(1, 3))
        self.register_buffer("std", torch.tensor(preprocessing.std).view(1, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        colour = images.mean(dim=(2, 3)) * self.std + self.mean - 0.5  # undo the normalisation
        return nn.functional.pad(colour, (0, 509))


def test_held_out_validation_recall_on_a_hand_made_case(tmp_path: Path) -> None:
    # Held-out products: A two reds, B green and yellow, C one orange photo (a query with nothing
    # to find, so left out, but in the gallery). By cosine of centred colours: each red finds the
    # other red, green finds yellow (1/3 against -1/3 for the reds), yellow finds orange (0.97)
    # before green (1/3). Recall@1 is 3 of 4 scored queries; a query that could find itself
    # would make it 1.
    photos = {
        "train/T": [(128, 128, 128)],
        "val/A": [(255, 0, 0), (230, 0, 0)],
        "val/B": [(0, 255, 0), (255, 255, 0)],
        "val/C": [(255, 200, 0)],
    }
    for folder, colours in photos.items():
        (tmp_path / folder).mkdir(parents=True)
        for index, colour in enumerate(colours):
            Image.new("RGB", (32, 32), colour).save(tmp_path / folder / f"{index}.png")
    config = TrainConfig(
        "resnet18", "supervised", tmp_path / "train", Path("unused"), val_data=tmp_path / "val",
        val_mode="held-out", image_size=32, channels_last=False,
    )  # fmt: skip
    data = load_training_data(config.data, config.val_data, val_mode=config.val_mode)
    preprocessing = replace(plain_weights_preprocessing(config.arch), resize=32, crop=32)
    metrics = validate(CentredMeanColour(preprocessing), data, preprocessing, config)
    # 4 rankable photos per query, so the cut-offs are 1 and 4; with one right answer, MAP@R = Recall@1.
    assert metrics == pytest.approx({"recall@1": 0.75, "map@r": 0.75})
    seen_as_gallery = validate(
        CentredMeanColour(preprocessing), replace(data, exclude_self=False), preprocessing, config
    )
    assert seen_as_gallery["recall@1"] == 1.0


@pytest.mark.parametrize("method", ["multisimilarity", "proxyanchor"])
def test_metric_learning_steps_reduce_the_loss(tiny_trees: tuple[Path, Path], method: str) -> None:
    config = tiny_config(tiny_trees, Path("unused"), method=method, lr=1e-3, embedding_dim=16)
    run = TrainingRun.start(config, len(PRODUCTS), steps_per_epoch=7)
    data = load_training_data(config.data)
    preprocessing = replace(plain_weights_preprocessing(config.arch), resize=36, crop=32)
    images = torch.stack([preprocessing.to_tensor(load_image(path)) for path in data.train.paths])
    batch = (images, torch.tensor(data.train.labels))  # 4 products x 4 photos, one view each
    trained = [group["params"] for group in run.optimizer.param_groups]
    assert any(p is run.embedding_head.weight for p in trained[1])
    if method == "proxyanchor":
        # The proxies train, at 100 times the backbone's rate and without weight decay.
        proxies = run.loss.proxies
        assert trained[2] == [proxies]
        assert run.optimizer.param_groups[2]["initial_lr"] == pytest.approx(100 * config.learning_rate)
        assert run.optimizer.param_groups[2]["weight_decay"] == 0.0
        start = proxies.detach().clone()
    else:
        assert len(trained) == 2

    def steps(count: int) -> float:
        return train_one_epoch(run, [batch] * count, run.loss, "test")

    before = steps(1)
    steps(5)
    assert steps(1) < 0.8 * before
    if method == "proxyanchor":
        assert not torch.equal(run.loss.proxies.detach(), start)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU, which CI's machines never have")
def test_training_on_the_gpu_with_mixed_precision_follows_the_cpu(tiny_trees: tuple[Path, Path]) -> None:
    losses = {}
    for device in ("cpu", "cuda"):
        config = tiny_config(tiny_trees, Path("unused"), method="supervised", lr=1e-3, device=device)
        run = TrainingRun.start(config, len(PRODUCTS), steps_per_epoch=4)
        assert next(run.backbone.parameters()).device.type == device
        data = load_training_data(config.data)
        preprocessing = replace(plain_weights_preprocessing(config.arch), resize=36, crop=32)
        images = torch.stack([preprocessing.to_tensor(load_image(path)) for path in data.train.paths])
        batch = (images, torch.tensor(data.train.labels))
        losses[device] = [train_one_epoch(run, [batch], nn.CrossEntropyLoss(), "test") for _ in range(4)]
    # bfloat16 moves each step a little; the curves stay together and both fall.
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=0.05)
    assert losses["cuda"][-1] < losses["cuda"][0]


def test_the_run_lives_on_the_configured_device(tiny_trees: tuple[Path, Path]) -> None:
    config = tiny_config(tiny_trees, Path("unused"), method="supervised", device="auto")
    run = TrainingRun.start(config, len(PRODUCTS), steps_per_epoch=1)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert {parameter.device.type for parameter in run.backbone.parameters()} == {expected}
    assert {parameter.device.type for parameter in run.head.parameters()} == {expected}

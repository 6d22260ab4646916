"""Tests for fine-tuning: stages, data, a few real training steps, checkpoints and resuming."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import embedder.train
from embedder import load_embedder
from embedder.datasets import LabelledImages, grocery_split
from embedder.efficientnet_lite import EfficientNetLite0
from embedder.images import load_image
from embedder.nt_xent_loss import NTXentLoss
from embedder.train import (
    TrainConfig,
    TrainingRun,
    backbone_stages,
    freeze_stages,
    initial_backbone,
    model_normalisation,
    parse_args,
    train,
    train_one_epoch,
    training_loader,
)
from embedder.training_data import load_training_data, refuse_test_split

PRODUCTS = ("Granny-Smith", "Banana", "Lime", "Red-Bell-Pepper")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: more threads only add synchronisation, and cores may be shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def link_photos(root: Path, split: LabelledImages, per_product: int) -> Path:
    """A class-per-folder tree of symlinks to a few photos of each of PRODUCTS (no copies)."""
    for name in PRODUCTS:
        label = split.class_names.index(name)
        photos = [
            path for path, photo_label in zip(split.paths, split.labels, strict=True) if photo_label == label
        ]
        (root / name).mkdir(parents=True)
        for photo in photos[:per_product]:
            (root / name / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="module")
def tiny_trees(tmp_path_factory: pytest.TempPathFactory, grocery_train: Path) -> tuple[Path, Path]:
    """4 products x 4 training photos and 4 x 2 validation photos of the grocery data set."""
    dataset = grocery_train.parent
    root = tmp_path_factory.mktemp("tiny")
    train_tree = link_photos(root / "train", grocery_split(dataset, "train"), 4)
    val_tree = link_photos(root / "val", grocery_split(dataset, "val"), 2)
    return train_tree, val_tree


def tiny_config(tiny_trees: tuple[Path, Path], out: Path, **changes: object) -> TrainConfig:
    """A resnet18 from scratch at 32 x 32 pixels: seconds per epoch on a CPU."""
    train_tree, val_tree = tiny_trees
    config = TrainConfig(
        arch="resnet18",
        method="supcon",
        data=train_tree,
        val_data=val_tree,
        out=out,
        epochs=1,
        batch_size=8,
        photos_per_product=2,
        image_size=32,
        from_scratch=True,
        workers=0,
        threads=1,
    )
    return replace(config, **changes)  # type: ignore[arg-type]


def test_stages_are_the_stem_then_the_block_groups() -> None:
    resnet = initial_backbone(TrainConfig("resnet18", "supervised", Path("."), Path("."), from_scratch=True))
    assert len(backbone_stages(resnet)) == 5
    assert len(backbone_stages(EfficientNetLite0(num_classes=None))) == 8


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_from_scratch_resnet_blocks_start_as_the_identity(arch: str) -> None:
    # Zero-initialised residual branches: without them a from-scratch ResNet-50 never left
    # SimCLR's chance-level loss on the Grocery Store data (docs/quality.md).
    backbone = initial_backbone(TrainConfig(arch, "simclr", Path("."), Path("."), from_scratch=True))
    block = backbone.layer2[1]  # type: ignore[index]  # no downsampling: input and output shapes agree
    width = block.conv1.in_channels
    backbone.train()
    features = torch.randn(2, width, 8, 8)
    assert torch.allclose(block(features), torch.relu(features), atol=1e-6)


def test_frozen_stages_get_no_gradients_and_keep_their_statistics() -> None:
    config = TrainConfig("resnet18", "supervised", Path("."), Path("."), from_scratch=True, freeze_stages=2)
    run = TrainingRun.start(config, class_count=3, steps_per_epoch=1)
    run.set_training_mode()
    backbone = run.backbone
    assert not backbone.bn1.training and not backbone.layer1.training and backbone.layer2.training
    backbone(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in [*backbone.conv1.parameters(), *backbone.layer1.parameters()])
    assert all(p.grad is not None for p in backbone.layer2.parameters())
    with pytest.raises(ValueError, match="5 stages"):
        freeze_stages(backbone, 6)


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


@pytest.mark.parametrize("method", ["supervised", "simclr", "supcon"])
def test_loaders_give_augmented_batches(tiny_trees: tuple[Path, Path], method: str) -> None:
    config = tiny_config(tiny_trees, Path("unused"), method=method)
    data = load_training_data(config.data)
    loader = training_loader(config, data.train, model_normalisation(config.arch))
    assert len(loader) == 2
    batch = next(iter(loader))
    views, labels = batch[:-1], batch[-1]
    assert len(views) == (1 if method == "supervised" else 2)
    for view in views:
        assert view.shape == (8, 3, 32, 32) and view.dtype == torch.float32
    assert not torch.equal(views[0], views[-1]) or method == "supervised"
    if method == "supcon":
        assert sorted(torch.bincount(labels).tolist()) == [2, 2, 2, 2]


def test_grocery_training_never_reads_the_test_split(grocery_train: Path) -> None:
    dataset = grocery_train.parent
    data = load_training_data(dataset)
    assert data.queries is not None and data.gallery is not None and data.gallery_kind == "iconic images"
    for images in (data.train, data.queries, data.gallery):
        assert not any(path.is_relative_to(dataset / "test") for path in images.paths)
    assert {path.relative_to(dataset).parts[0] for path in data.queries.paths} == {"val"}
    with pytest.raises(RuntimeError, match="test split"):
        refuse_test_split([dataset / "test" / "Fruit" / "photo.jpg"])
    with pytest.raises(RuntimeError, match="test split"):
        load_training_data(grocery_train, dataset / "test")


@pytest.mark.parametrize("method", ["supervised", "supcon"])
def test_a_few_training_steps_reduce_the_loss(tiny_trees: tuple[Path, Path], method: str) -> None:
    config = tiny_config(tiny_trees, Path("unused"), method=method, lr=1e-3)
    run = TrainingRun.start(config, len(PRODUCTS), steps_per_epoch=7)
    data = load_training_data(config.data)
    preprocessing = replace(model_normalisation(config.arch), resize=36, crop=32)
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
    real_train_one_epoch = embedder.train.train_one_epoch

    def crash_in_epoch_two(*args: Any, **kwargs: Any) -> float:
        nonlocal epochs_begun
        epochs_begun += 1
        if epochs_begun == 2:
            raise KeyboardInterrupt
        return real_train_one_epoch(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(embedder.train, "train_one_epoch", crash_in_epoch_two)
        with pytest.raises(KeyboardInterrupt):
            train(interrupted)
    train(replace(interrupted, resume=True))
    straight_history, resumed_history = (
        torch.load(run.out / "last.pt", weights_only=True)["history"] for run in (straight, interrupted)
    )
    assert [entry["epoch"] for entry in resumed_history] == [1, 2]
    assert resumed_history[1]["loss"] == pytest.approx(straight_history[1]["loss"], rel=1e-4)


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

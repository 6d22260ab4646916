"""Fine-tune or train an embedder on a shop's own photos: supervised, SimCLR or SupCon.

    python -m embedder.train --arch efficientnet_lite0 --method supervised \
        --data /path/to/grocery-store/dataset --out var/train/lite0 --epochs 5

The embedding is always the backbone's pooled features: the classification head (supervised) and
the projection head (SimCLR, SupCon) only shape them during training and are not saved in best.pt,
as SimCLR (Chen et al. 2020, section 4.2) found the features before the projection head better.
"""

import argparse
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn
from torch.nn import functional
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler
from tqdm import tqdm

from embedder import efficientnet_lite, resnet
from embedder.architectures import ARCHITECTURES, build_backbone, get_architecture
from embedder.augmentations import contrastive_augmentation, evaluation_preprocessing, supervised_augmentation
from embedder.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from embedder.datasets import LabelledImages
from embedder.nt_xent_loss import NTXentLoss
from embedder.preprocessing import IMAGENET, Preprocessing
from embedder.projection_head import ProjectionHead
from embedder.retrieval import evaluate_retrieval
from embedder.sampler import ProductBatchSampler
from embedder.training_data import SingleViewDataset, TrainingData, TwoViewDataset, load_training_data

METHODS = ("supervised", "simclr", "supcon")
TRAINING_STATE_FORMAT = "vitrine-training-state"
# Settings that may change when a run is resumed; any other difference is refused.
RESUMABLE_CHANGES = {"epochs", "patience", "workers", "threads", "resume"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; stored in its checkpoints."""

    arch: str
    method: str
    data: Path
    out: Path
    val_data: Path | None = None
    epochs: int = 5
    batch_size: int = 32
    lr: float | None = None  # None: 1e-4 when fine-tuning, 1e-3 from scratch
    weight_decay: float = 0.01
    image_size: int = 224
    resume: bool = False
    patience: int | None = 3  # epochs without a better val Recall@1 before stopping; None: never
    limit_per_class: int | None = None
    seed: int = 0
    workers: int = 1
    threads: int | None = None  # None: one per CPU core
    weights: Path | None = None  # a state dict file or Vitrine checkpoint to start from
    from_scratch: bool = False
    freeze_stages: int = 0
    # 0.1: SimCLR's best with normalised embeddings (Chen et al. 2020, table 5) and SupCon's choice;
    # it weighs the hardest negatives, similar products, most, which product search needs.
    temperature: float = 0.1
    label_smoothing: float = 0.1
    photos_per_product: int = 4  # K in SupCon's P x K batches
    projection_dim: int = 128
    channels_last: bool = True

    def __post_init__(self) -> None:
        get_architecture(self.arch)
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.from_scratch and self.weights is not None:
            raise ValueError("choose either from_scratch or weights, not both")
        if self.method == "supcon" and self.batch_size % self.photos_per_product:
            raise ValueError(
                f"supcon batches are P products x K photos: batch_size {self.batch_size} is not a "
                f"multiple of photos_per_product {self.photos_per_product}"
            )
        if min(self.epochs, self.batch_size, self.image_size, self.photos_per_product) < 1:
            raise ValueError("epochs, batch_size, image_size and photos_per_product must be positive")

    @property
    def learning_rate(self) -> float:
        """The backbone's peak learning rate."""
        if self.lr is not None:
            return self.lr
        return 1e-3 if self.from_scratch else 1e-4

    @property
    def head_learning_rate(self) -> float:
        """The new head's peak learning rate: ten times the pretrained backbone's, as it starts random."""
        return self.learning_rate * (1 if self.from_scratch else 10)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (paths as strings), as checkpoints store them."""
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config written by to_dict."""
        paths = {"data", "out", "val_data", "weights"}
        known = {item.name for item in fields(cls)}
        arguments: dict[str, Any] = {
            key: Path(value) if key in paths and value is not None else value
            for key, value in values.items()
            if key in known
        }
        return cls(**arguments)


def model_normalisation(arch: str) -> Preprocessing:
    """The input normalisation of an architecture's pretrained weights, kept when training from scratch."""
    # EfficientNet-Lite0's TensorFlow weights take mean = std = 0.5; torchvision's ResNets ImageNet's.
    return efficientnet_lite.PREPROCESSING if arch == "efficientnet_lite0" else IMAGENET


def initial_backbone(config: TrainConfig) -> nn.Module:
    """The backbone to start from, classifier removed: random (seeded by the caller) or pretrained."""
    architecture = get_architecture(config.arch)
    if config.from_scratch:
        model = architecture.build()
        setattr(model, architecture.classifier, nn.Identity())
        zero_init_residuals(model)
        return model
    if config.weights is not None:
        payload = torch.load(config.weights, map_location="cpu", weights_only=True)
        is_checkpoint = isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT
        state_dict = payload["state_dict"] if is_checkpoint else payload
        return build_backbone(config.arch, state_dict, source=str(config.weights))
    if config.arch == "efficientnet_lite0":
        state_dict = efficientnet_lite.imagenet_state_dict()
    else:
        state_dict = resnet.imagenet_state_dict(config.arch, allow_download=False)
    return build_backbone(config.arch, state_dict, source=f"{config.arch} ImageNet weights")


def zero_init_residuals(model: nn.Module) -> None:
    """Start each ResNet residual branch at zero (its last BatchNorm's scale), so every block is
    the identity at first (Goyal et al. 2017, as torchvision's zero_init_residual).

    Without it a from-scratch ResNet-50 maps all images to nearly the same features and SimCLR's
    loss never leaves its chance level; ResNet-18 learns either way.
    """
    for module in model.modules():
        if isinstance(module, torchvision.models.resnet.Bottleneck):
            nn.init.zeros_(module.bn3.weight)
        elif isinstance(module, torchvision.models.resnet.BasicBlock):
            nn.init.zeros_(module.bn2.weight)


def backbone_stages(backbone: nn.Module) -> list[list[nn.Module]]:
    """The backbone's stages from input to output, the units that freeze_stages counts.

    ResNet: the stem (conv1 + bn1), then layer1 to layer4 (5 stages). EfficientNet-Lite0: the stem
    (conv + bn), then its 7 groups of inverted residual blocks (8 stages); its final 1x1 conv head
    is never frozen.
    """
    if isinstance(backbone, torchvision.models.ResNet):
        return [
            [backbone.conv1, backbone.bn1],
            [backbone.layer1],
            [backbone.layer2],
            [backbone.layer3],
            [backbone.layer4],
        ]
    if isinstance(backbone, efficientnet_lite.EfficientNetLite0):
        stages: list[list[nn.Module]] = [[backbone._conv_stem, backbone._bn0]]
        start = 0
        for stage in efficientnet_lite.STAGES:
            stages.append(list(backbone._blocks[start : start + stage.repeats]))
            start += stage.repeats
        return stages
    raise TypeError(f"no stages defined for {type(backbone).__name__}")


def freeze_stages(backbone: nn.Module, count: int) -> list[nn.Module]:
    """Stop gradients through the first count stages; returns their modules, to keep in eval mode."""
    stages = backbone_stages(backbone)
    if not 0 <= count <= len(stages):
        raise ValueError(f"{type(backbone).__name__} has {len(stages)} stages; cannot freeze {count}")
    frozen = [module for stage in stages[:count] for module in stage]
    for module in frozen:
        module.requires_grad_(False)
    return frozen


def training_head(config: TrainConfig, class_count: int) -> nn.Module:
    """A linear classifier over product ids (supervised) or SimCLR's 2-layer MLP projection head."""
    features = get_architecture(config.arch).feature_dimension
    if config.method == "supervised":
        return nn.Linear(features, class_count)
    return ProjectionHead([features, features, config.projection_dim])


def training_loader(
    config: TrainConfig, images: LabelledImages, preprocessing: Preprocessing
) -> DataLoader[Any]:
    """Batches of augmented photos: (x, labels) for supervised, (view_a, view_b, labels) otherwise."""
    dataset: SingleViewDataset | TwoViewDataset
    if config.method == "supervised":
        dataset = SingleViewDataset(images, supervised_augmentation(config.image_size, preprocessing))
    else:
        dataset = TwoViewDataset(images, contrastive_augmentation(config.image_size, preprocessing))
    sampler: Sampler[list[int]]
    if config.method == "supcon":
        k = config.photos_per_product
        sampler = ProductBatchSampler(images.labels, config.batch_size // k, k, seed=config.seed)
    else:
        # BatchNorm needs more than one sample, and equal batches keep the contrastive task fixed.
        generator = torch.Generator().manual_seed(config.seed)
        sampler = BatchSampler(RandomSampler(dataset, generator=generator), config.batch_size, drop_last=True)
    if len(sampler) == 0:
        raise ValueError(f"{len(images)} training photos make no full batch of {config.batch_size}")
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=config.workers,
        worker_init_fn=_single_threaded_worker,
        persistent_workers=False,
    )


def set_loader_epoch(loader: DataLoader[Any], seed: int, epoch: int) -> None:
    """Make the epoch's batches depend only on (seed, epoch), so a resumed run sees the same ones."""
    batch_sampler = loader.batch_sampler
    if isinstance(batch_sampler, ProductBatchSampler):
        batch_sampler.set_epoch(epoch)
    elif isinstance(batch_sampler, BatchSampler) and isinstance(batch_sampler.sampler, RandomSampler):
        generator = batch_sampler.sampler.generator
        assert generator is not None
        generator.manual_seed(seed * 1_000_003 + epoch)


def _single_threaded_worker(worker_id: int) -> None:
    """Workers only decode and augment; leave the cores' threads to the model."""
    torch.set_num_threads(1)


@dataclass(frozen=True)
class LearningRateFactor:
    """The multiplier of the peak learning rate at each step: linear warm-up, then cosine decay to 0."""

    total_steps: int
    warmup_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TrainingRun:
    """The modules, optimiser and learning rate schedule of a run: what last.pt saves."""

    config: TrainConfig
    backbone: nn.Module
    head: nn.Module
    frozen: list[nn.Module]  # modules of the frozen stages
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR

    @classmethod
    def start(cls, config: TrainConfig, class_count: int, steps_per_epoch: int) -> "TrainingRun":
        """The initial backbone with a new head, AdamW and a warm-up + cosine schedule (seeded)."""
        torch.manual_seed(config.seed)
        backbone = initial_backbone(config)
        head = training_head(config, class_count)
        frozen = freeze_stages(backbone, config.freeze_stages)
        if config.channels_last:
            backbone = backbone.to(memory_format=torch.channels_last)
        head_lr = config.head_learning_rate
        optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in backbone.parameters() if p.requires_grad], "lr": config.learning_rate},
                {"params": list(head.parameters()), "lr": head_lr},
            ],
            weight_decay=config.weight_decay,
        )
        total_steps = config.epochs * steps_per_epoch
        factor = LearningRateFactor(total_steps, warmup_steps=max(1, total_steps // 10))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return cls(config, backbone, head, frozen, optimizer, scheduler)

    def set_training_mode(self) -> None:
        """Train mode, except that frozen stages keep their BatchNorm statistics."""
        self.backbone.train()
        self.head.train()
        for module in self.frozen:
            module.eval()

    def state_dict(self, epoch: int, history: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything --resume needs to continue after epoch as if never stopped."""
        return {
            "backbone": self.backbone.state_dict(),
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epoch,
            "config": self.config.to_dict(),
            "history": history,
            "torch_rng_state": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """Restore a state written by state_dict; returns its history."""
        self.backbone.load_state_dict(state["backbone"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng_state"])
        history: list[dict[str, Any]] = state["history"]
        return history


def train_one_epoch(
    run: TrainingRun, loader: Iterable[Any], loss_function: nn.Module, description: str
) -> float:
    """One pass over the batches (a DataLoader from training_loader); returns the mean loss."""
    config, backbone, head = run.config, run.backbone, run.head
    run.set_training_mode()
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    total, batches = 0.0, 0
    progress = tqdm(loader, desc=description, unit="batch", dynamic_ncols=True, mininterval=5.0)
    for batch in progress:
        if config.method == "supervised":
            images, labels = batch
            loss = loss_function(head(backbone(images.to(memory_format=memory_format))), labels)
        else:
            view_a, view_b, labels = batch
            # One forward pass over both views, so BatchNorm normalises them together.
            both = torch.cat([view_a, view_b]).to(memory_format=memory_format)
            z_a, z_b = head(backbone(both)).chunk(2)
            loss = loss_function(z_a, z_b, labels if config.method == "supcon" else None)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        total += loss.item()
        batches += 1
        progress.set_postfix(loss=f"{total / batches:.4f}", lr=f"{run.scheduler.get_last_lr()[0]:.2e}")
    progress.close()
    return total / max(batches, 1)


def embed_images(
    backbone: nn.Module, images: LabelledImages, preprocessing: Preprocessing, config: TrainConfig
) -> np.ndarray:
    """L2-normalised backbone features of each image, shape (len(images), feature dimension)."""
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    loader = DataLoader(
        SingleViewDataset(images, preprocessing.to_tensor),
        batch_size=config.batch_size,
        num_workers=config.workers,
        worker_init_fn=_single_threaded_worker,
    )
    vectors: list[np.ndarray] = []
    backbone.eval()
    with torch.inference_mode():
        for batch, _labels in loader:
            features = backbone(batch.to(memory_format=memory_format))
            vectors.append(functional.normalize(features.float(), dim=1).numpy())
    return np.concatenate(vectors)


def evaluate(
    backbone: nn.Module, data: TrainingData, preprocessing: Preprocessing, config: TrainConfig
) -> dict[str, float]:
    """Retrieval metrics of the validation photos as queries against the gallery (Recall@1 first)."""
    assert data.queries is not None and data.gallery is not None
    query_vectors = embed_images(backbone, data.queries, preprocessing, config)
    gallery_vectors = embed_images(backbone, data.gallery, preprocessing, config)
    ks = [k for k in (1, 5) if k <= len(data.gallery)]
    metrics = evaluate_retrieval(
        query_vectors, data.queries.labels, gallery_vectors, data.gallery.labels, ks=ks
    )
    return {name: metrics[name] for name in ("recall@1", "recall@5", "map@r") if name in metrics}


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """Write last.pt atomically: a crash mid-write leaves the previous epoch's file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save({"format": TRAINING_STATE_FORMAT, **state}, file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_training_state(path: Path, config: TrainConfig) -> dict[str, Any]:
    """Read last.pt and check that it belongs to a run with this config."""
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
        raise ValueError(f"{path} is not a training state written by embedder.train")
    saved, given = state["config"], config.to_dict()
    changed = sorted(key for key in given if key not in RESUMABLE_CHANGES and saved.get(key) != given[key])
    if changed:
        details = ", ".join(f"{key}: {saved.get(key)!r} -> {given[key]!r}" for key in changed)
        raise ValueError(f"cannot resume {path} with different settings ({details})")
    return state


def plot_history(history: list[dict[str, Any]], path: Path) -> None:
    """Training loss and validation Recall@1 per epoch, as a PNG."""
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    loss_axes, recall_axes = figure.subplots(1, 2)
    trained = [entry for entry in history if entry.get("loss") is not None]
    loss_axes.plot([entry["epoch"] for entry in trained], [entry["loss"] for entry in trained], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    validated = [entry for entry in history if "recall@1" in entry]
    recall_axes.plot(
        [entry["epoch"] for entry in validated], [entry["recall@1"] for entry in validated], marker="o"
    )
    recall_axes.set(title="validation Recall@1", xlabel="epoch (0: before training)", ylim=(0, 1))
    for axes in (loss_axes, recall_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    figure.savefig(path, dpi=100)


def best_entry(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trained epoch with the highest validation Recall@1 (the earliest among equals)."""
    scored = [entry for entry in history if entry["epoch"] > 0 and "recall@1" in entry]
    return max(scored, key=lambda entry: (entry["recall@1"], -entry["epoch"]), default=None)


def should_stop(history: list[dict[str, Any]], patience: int | None) -> bool:
    """Whether patience epochs have passed without a better validation Recall@1."""
    best = best_entry(history)
    if patience is None or best is None:
        return False
    return bool(history[-1]["epoch"] - best["epoch"] >= patience)


def train(config: TrainConfig) -> Path:
    """Run training as configured; returns the path of best.pt, a Vitrine checkpoint."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    try:
        return _train(config)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config: TrainConfig) -> Path:
    """train() once the thread count is set."""
    last_path, best_path = config.out / "last.pt", config.out / "best.pt"
    if last_path.exists() and not config.resume:
        raise FileExistsError(f"{last_path} exists: pass --resume to continue it, or choose another --out")
    data = load_training_data(config.data, config.val_data, limit=config.limit_per_class, seed=config.seed)
    normalisation = model_normalisation(config.arch)
    preprocessing = evaluation_preprocessing(config.image_size, normalisation)
    loader = training_loader(config, data.train, normalisation)
    run = TrainingRun.start(config, len(data.train.class_names), len(loader))
    loss_function: nn.Module = (
        nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        if config.method == "supervised"
        else NTXentLoss(config.temperature)
    )
    history: list[dict[str, Any]] = []
    if config.resume and last_path.exists():
        history = run.load_state_dict(load_training_state(last_path, config))
        tqdm.write(f"resuming {last_path} after epoch {history[-1]['epoch']}")
    elif data.queries is not None:
        history.append({"epoch": 0, "loss": None, **evaluate(run.backbone, data, preprocessing, config)})
        tqdm.write(f"epoch 0 (before training): {_describe(history[-1])}")

    description = _describe_run(config, data, loader)
    for epoch in _remaining_epochs(history, config):
        started = time.perf_counter()
        set_loader_epoch(loader, config.seed, epoch)
        loss = train_one_epoch(run, loader, loss_function, f"epoch {epoch}")
        entry: dict[str, Any] = {"epoch": epoch, "loss": loss, "lr": run.scheduler.get_last_lr()[0]}
        if data.queries is not None:
            entry |= evaluate(run.backbone, data, preprocessing, config)
        entry["seconds"] = round(time.perf_counter() - started, 1)
        history.append(entry)
        tqdm.write(f"epoch {epoch}: {_describe(entry)}")
        best = best_entry(history)
        if best is None or best is entry:
            metrics = {key: value for key, value in entry.items() if key != "lr"}
            save_checkpoint(
                best_path,
                run.backbone,
                config.arch,
                preprocessing,
                config=description,
                metrics={**metrics, "history": history},
            )
        save_training_state(last_path, run.state_dict(epoch, history))
        plot_history(history, config.out / "training.png")
        if should_stop(history, config.patience):
            tqdm.write(f"stopping early: no better validation Recall@1 for {config.patience} epochs")
            break
    return best_path


def _remaining_epochs(history: list[dict[str, Any]], config: TrainConfig) -> Iterator[int]:
    """Epochs still to train, none if the run already stopped early."""
    done = max((entry["epoch"] for entry in history), default=0)
    if should_stop(history, config.patience):
        return iter(())
    return iter(range(done + 1, config.epochs + 1))


def _describe_run(config: TrainConfig, data: TrainingData, loader: DataLoader[Any]) -> dict[str, Any]:
    """What best.pt's config records: the settings, the data and what the embedding is."""
    head = "classification head" if config.method == "supervised" else "projection head"
    return {
        **config.to_dict(),
        "embedding": f"backbone pooled features, before the {head} (the head is not saved)",
        "backbone_learning_rate": config.learning_rate,
        "head_learning_rate": config.head_learning_rate,
        "train_photos": len(data.train),
        "products": len(set(data.train.labels)),
        "validation_queries": len(data.queries) if data.queries is not None else 0,
        "validation_gallery": data.gallery_kind,
        "batches_per_epoch": len(loader),
    }


def _describe(entry: dict[str, Any]) -> str:
    """One line for an epoch's history entry."""
    return ", ".join(f"{key} {value:.4g}" for key, value in entry.items() if isinstance(value, float))


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Read a TrainConfig from command-line arguments."""
    parser = argparse.ArgumentParser(prog="python -m embedder.train", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument(
        "--data", required=True, type=Path, help="class-per-folder tree or Grocery Store dataset/"
    )
    parser.add_argument("--val-data", type=Path, help="class-per-folder validation photos (queries)")
    parser.add_argument("--out", required=True, type=Path, help="folder for last.pt, best.pt, training.png")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="photos per batch (views: twice that)")
    parser.add_argument(
        "--lr", type=float, help="peak backbone learning rate (1e-4 fine-tuning, 1e-3 scratch)"
    )
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    parser.add_argument("--patience", type=int, default=3, help="0 turns early stopping off")
    parser.add_argument("--limit-per-class", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader processes decoding images")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: one per core; 1 is faster on a busy machine)"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--weights", type=Path, help="state dict or Vitrine checkpoint to start from")
    start.add_argument("--from-scratch", action="store_true", help="random initialisation (seeded)")
    parser.add_argument("--freeze-stages", type=int, default=0, help="ResNet: 0-5, EfficientNet-Lite0: 0-8")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--photos-per-product", type=int, default=4, help="K in SupCon's P x K batches")
    parser.add_argument("--projection-dim", type=int, default=128)
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    args = vars(parser.parse_args(argv))
    args["patience"] = args["patience"] or None
    return TrainConfig(**args)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    best = train(parse_args(argv))
    print(f"best checkpoint: {best}")


if __name__ == "__main__":
    main()

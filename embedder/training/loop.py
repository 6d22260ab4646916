"""One run's state and its steps: the optimiser and schedule, an epoch of training, validation,
early stopping, and last.pt, which lets a run resume as if it had never stopped."""

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from embedder.checkpoint import save_atomically
from embedder.embedding import Embedder, ModelInfo
from embedder.evaluation.evaluate import measure
from embedder.evaluation.tasks import RetrievalTask
from embedder.preprocessing import Preprocessing
from embedder.progress import progress_bar
from embedder.registry import resolve_device
from embedder.training.config import METRIC_METHODS, TrainConfig
from embedder.training.data import TrainingData
from embedder.training.losses import training_loss
from embedder.training.model import (
    embedding_head,
    freeze_stages,
    initial_backbone,
    memory_format,
    training_head,
)

TRAINING_STATE_FORMAT = "vitrine-training-state"
# Settings that may change when a run is resumed; any other difference is refused.
RESUMABLE_CHANGES = {"epochs", "patience", "workers", "threads", "resume", "device"}
VALIDATION_METRICS = ("recall@1", "recall@5", "map@r")


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
    """The modules, optimiser and learning rate schedule of a run: what last.pt saves.

    The embedder is the backbone then the embedding head (identity unless embedding_dim is set);
    the training head (classifier or projection) and the loss (proxy-anchor's proxies) are not.
    """

    config: TrainConfig
    backbone: nn.Module
    head: nn.Module
    frozen: list[nn.Module]  # modules of the frozen stages
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    embedding_head: nn.Module
    loss: nn.Module

    @classmethod
    def start(cls, config: TrainConfig, class_count: int, steps_per_epoch: int) -> "TrainingRun":
        """The initial backbone with a new head, AdamW and a warm-up + cosine schedule (seeded)."""
        torch.manual_seed(config.seed)
        backbone = initial_backbone(config)
        embedding = embedding_head(config)
        head = training_head(config, class_count)
        loss = training_loss(config, class_count)
        frozen = freeze_stages(backbone, config.freeze_stages)
        device = resolve_device(config.device)
        backbone, embedding, head, loss = (module.to(device) for module in (backbone, embedding, head, loss))
        if config.channels_last:
            backbone = backbone.to(memory_format=torch.channels_last)
        groups: list[dict[str, Any]] = [
            {"params": [p for p in backbone.parameters() if p.requires_grad], "lr": config.learning_rate},
            {"params": [*embedding.parameters(), *head.parameters()], "lr": config.head_learning_rate},
        ]
        if list(loss.parameters()):
            # Proxy-anchor's proxies, without weight decay: shrinking them would only change
            # their effective step size, as the loss sees their direction alone.
            groups.append(
                {"params": list(loss.parameters()), "lr": config.proxy_learning_rate, "weight_decay": 0.0}
            )
        optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        total_steps = config.epochs * steps_per_epoch
        factor = LearningRateFactor(total_steps, warmup_steps=max(1, total_steps // 10))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return cls(config, backbone, head, frozen, optimizer, scheduler, embedding, loss)

    def embedding_model(self) -> nn.Module:
        """What embeds an image: the backbone, then the embedding head if the run has one."""
        if isinstance(self.embedding_head, nn.Identity):
            return self.backbone
        return nn.Sequential(self.backbone, self.embedding_head)

    def set_training_mode(self) -> None:
        """Train mode, except that frozen stages keep their BatchNorm statistics."""
        self.backbone.train()
        self.embedding_head.train()
        self.head.train()
        for module in self.frozen:
            module.eval()

    def state_dict(self, epoch: int, history: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything --resume needs to continue after epoch as if never stopped."""
        return {
            "backbone": self.backbone.state_dict(),
            "head": self.head.state_dict(),
            "embedding_head": self.embedding_head.state_dict(),
            "loss": self.loss.state_dict(),
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
        # States written before embedding heads and proxies existed have neither, nor need them.
        self.embedding_head.load_state_dict(state.get("embedding_head", {}))
        self.loss.load_state_dict(state.get("loss", {}))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng_state"])
        history: list[dict[str, Any]] = state["history"]
        return history


def train_one_epoch(
    run: TrainingRun, loader: Iterable[Any], loss_function: nn.Module, description: str
) -> float:
    """One pass over the batches (a DataLoader from training_loader); returns the mean loss."""
    config, head = run.config, run.head
    embed = run.embedding_model()
    run.set_training_mode()
    layout = memory_format(config)
    total, batches = 0.0, 0
    device = device_of(run.backbone)
    bar = progress_bar(loader, desc=description, unit="batch")
    for batch in bar:
        batch = [part.to(device, non_blocking=True) for part in batch]
        # On a GPU, mixed precision: bfloat16 needs no loss scaling, as its range is float32's.
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            if config.method == "supervised" or config.method in METRIC_METHODS:
                images, labels = batch
                loss = loss_function(head(embed(images.to(memory_format=layout))).float(), labels)
            else:
                view_a, view_b, labels = batch
                # One forward pass over both views, so BatchNorm normalises them together.
                both = torch.cat([view_a, view_b]).to(memory_format=layout)
                z_a, z_b = head(embed(both)).float().chunk(2)
                loss = loss_function(z_a, z_b, labels if config.method == "supcon" else None)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        total += loss.item()
        batches += 1
        bar.set_postfix(loss=f"{total / batches:.4f}", lr=f"{run.scheduler.get_last_lr()[0]:.2e}")
    bar.close()
    return total / max(batches, 1)


def validate(
    backbone: nn.Module, data: TrainingData, preprocessing: Preprocessing, config: TrainConfig
) -> dict[str, float]:
    """Retrieval metrics of the validation photos as queries against the gallery (Recall@1 first),
    measured as `vitrine evaluate` measures a saved model; with data.exclude_self (held-out
    products), each query is ranked against the other gallery photos, never itself."""
    assert data.queries is not None and data.gallery is not None
    # backbone is the whole embedding model: with an embedding head, it embeds to embedding_dim.
    info = ModelInfo(config.arch, "training", config.embedding_dimension)
    # A copy, as an Embedder turns its model's gradients off and this backbone trains on.
    device = device_of(backbone)
    embedder = Embedder(
        copy.deepcopy(backbone), preprocessing, info, device=device, channels_last=config.channels_last
    )
    task = RetrievalTask(
        name="validation",
        data=config.val_data or config.data,
        queries=data.queries,
        gallery=data.gallery,
        exclude_self=data.exclude_self,
        query_split=None,
        limit=None,
        k=min(5, len(data.gallery) - int(data.exclude_self)),
    )
    metrics = measure(embedder, task, batch_size=config.batch_size).metrics
    return {name: metrics[name] for name in VALIDATION_METRICS if name in metrics}


def device_of(module: nn.Module) -> torch.device:
    """Where a module's weights are (the CPU for one without any)."""
    tensor = next(iter([*module.parameters(), *module.buffers()]), None)
    return tensor.device if tensor is not None else torch.device("cpu")


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


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """Write last.pt atomically: a crash mid-write leaves the previous epoch's file intact."""
    save_atomically(path, {"format": TRAINING_STATE_FORMAT, **state})


def load_training_state(path: Path, config: TrainConfig) -> dict[str, Any]:
    """Read last.pt and check that it belongs to a run with this config."""
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
        raise ValueError(f"{path} is not a training state written by vitrine train")
    saved, given = state["config"], config.to_dict()
    changed = sorted(key for key in given if key not in RESUMABLE_CHANGES and saved.get(key) != given[key])
    if changed:
        details = ", ".join(f"{key}: {saved.get(key)!r} -> {given[key]!r}" for key in changed)
        raise ValueError(f"cannot resume {path} with different settings ({details})")
    return state

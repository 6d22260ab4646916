"""`vitrine train`: run training as configured, epoch by epoch, keeping best.pt and last.pt.

    vitrine train --arch efficientnet_lite0 --method supervised \
        --data /path/to/grocery-store/dataset --out var/train/lite0 --epochs 5
"""

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from embedder.checkpoint import save_checkpoint
from embedder.datasets import LabelledImages
from embedder.registry import plain_weights_preprocessing
from embedder.training.augmentations import evaluation_preprocessing
from embedder.training.catalog_anchors import catalog_images, start_proxies_at_catalog
from embedder.training.config import TrainConfig, parse_args
from embedder.training.data import TrainingData, load_training_data
from embedder.training.loaders import set_loader_epoch, training_loader
from embedder.training.loop import (
    TrainingRun,
    best_entry,
    load_training_state,
    save_training_state,
    should_stop,
    train_one_epoch,
    validate,
)
from embedder.training.plots import plot_history


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
    data = load_training_data(
        config.data,
        config.val_data,
        limit=config.limit_per_class,
        seed=config.seed,
        val_mode=config.val_mode,
    )
    # From scratch too: the pretrained weights' normalisation, so the inputs look as embedding sees them.
    normalisation = plain_weights_preprocessing(config.arch)
    preprocessing = evaluation_preprocessing(config.image_size, normalisation)
    catalog = catalog_images(config.data, data.train) if config.catalog_anchors else None
    loader = training_loader(config, data.train, normalisation, catalog)
    run = TrainingRun.start(config, len(data.train.class_names), len(loader))
    loss_function = run.loss
    history: list[dict[str, Any]] = []
    if config.resume and last_path.exists():
        history = run.load_state_dict(load_training_state(last_path, config))
        tqdm.write(f"resuming {last_path} after epoch {history[-1]['epoch']}")
    else:
        if catalog is not None and config.method == "proxyanchor":
            start_proxies_at_catalog(run.embedding_model(), run.loss, catalog, preprocessing, config)
        if data.queries is not None:
            history.append(
                {"epoch": 0, "loss": None, **validate(run.embedding_model(), data, preprocessing, config)}
            )
            tqdm.write(f"epoch 0 (before training): {_describe(history[-1])}")

    description = _describe_run(config, data, loader, catalog)
    for epoch in _remaining_epochs(history, config):
        started = time.perf_counter()
        set_loader_epoch(loader, config.seed, epoch)
        loss = train_one_epoch(run, loader, loss_function, f"epoch {epoch}")
        entry: dict[str, Any] = {"epoch": epoch, "loss": loss, "lr": run.scheduler.get_last_lr()[0]}
        if data.queries is not None:
            entry |= validate(run.embedding_model(), data, preprocessing, config)
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
                head=run.embedding_head if isinstance(run.embedding_head, nn.Linear) else None,
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


def _describe_run(
    config: TrainConfig, data: TrainingData, loader: DataLoader[Any], catalog: LabelledImages | None = None
) -> dict[str, Any]:
    """What best.pt's config records: the settings, the data and what the embedding is."""
    head = {"supervised": "classification head", "simclr": "projection head", "supcon": "projection head"}
    features = "backbone pooled features"
    if config.embedding_dim is not None:
        features += f", then a linear head to {config.embedding_dim} (saved)"
    return {
        **config.to_dict(),
        "embedding": features
        + (
            f", before the {head[config.method]} (not saved)"
            if config.method in head
            else ", as the loss saw them"
        ),
        "backbone_learning_rate": config.learning_rate,
        "head_learning_rate": config.head_learning_rate,
        "train_photos": len(data.train),
        "catalog_anchors_images": len(catalog) if catalog is not None else 0,
        "products": len(set(data.train.labels)),
        "validation_queries": len(data.queries) if data.queries is not None else 0,
        "validation_gallery": data.gallery_kind,
        "batches_per_epoch": len(loader),
    }


def _describe(entry: dict[str, Any]) -> str:
    """One line for an epoch's history entry."""
    return ", ".join(f"{key} {value:.4g}" for key, value in entry.items() if isinstance(value, float))


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    best = train(parse_args(argv))
    print(f"best checkpoint: {best}")

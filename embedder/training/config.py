"""The settings of a training run, as a frozen dataclass and as command-line arguments."""

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from embedder.architectures import ARCHITECTURES, get_architecture

METHODS = ("supervised", "simclr", "supcon", "multisimilarity", "proxyanchor")
# Methods trained on batches of P products x K photos (ProductBatchSampler).
PRODUCT_BATCH_METHODS = ("supcon", "multisimilarity", "proxyanchor")
# Methods whose loss compares the embeddings themselves, one view per photo.
METRIC_METHODS = ("multisimilarity", "proxyanchor")

# How validation queries are ranked: "seen" ranks val photos of training products against the
# training photos; "held-out" ranks photos of products never trained on against each other
# (leave-one-out), which is what `vitrine train --from-catalog` holds out.
VAL_MODES = ("seen", "held-out")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; stored in its checkpoints."""

    arch: str
    method: str
    data: Path
    out: Path
    val_data: Path | None = None
    val_mode: str = "seen"  # one of VAL_MODES
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
    device: str = "auto"  # auto: a CUDA GPU where there is one (bfloat16 autocast), else the CPU
    weights: Path | None = None  # a state dict file or Vitrine checkpoint to start from
    from_scratch: bool = False
    freeze_stages: int = 0
    # 0.1: SimCLR's best with normalised embeddings (Chen et al. 2020, table 5) and SupCon's choice;
    # it weighs the hardest negatives, similar products, most, which product search needs.
    temperature: float = 0.1
    label_smoothing: float = 0.1
    photos_per_product: int = 4  # K in the P x K batches of PRODUCT_BATCH_METHODS
    projection_dim: int = 128
    channels_last: bool = True
    embedding_dim: int | None = (
        None  # a linear head to this size, saved as the embedding; None: pooled features
    )
    # Each P x K batch gains its products' catalog images (augmented); proxy-anchor proxies start at them.
    catalog_anchors: bool = False

    def __post_init__(self) -> None:
        get_architecture(self.arch)
        if self.val_mode not in VAL_MODES:
            raise ValueError(f"val_mode must be one of {', '.join(VAL_MODES)}, got {self.val_mode!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.from_scratch and self.weights is not None:
            raise ValueError("choose either from_scratch or weights, not both")
        if self.method in PRODUCT_BATCH_METHODS and self.batch_size % self.photos_per_product:
            raise ValueError(
                f"{self.method} batches are P products x K photos: batch_size {self.batch_size} is not a "
                f"multiple of photos_per_product {self.photos_per_product}"
            )
        if min(self.epochs, self.batch_size, self.image_size, self.photos_per_product) < 1:
            raise ValueError("epochs, batch_size, image_size and photos_per_product must be positive")
        if self.embedding_dim is not None and self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {self.embedding_dim}")
        if self.catalog_anchors and self.method not in PRODUCT_BATCH_METHODS:
            raise ValueError(
                "catalog_anchors adds catalog images to P x K batches: use "
                + ", ".join(PRODUCT_BATCH_METHODS)
            )

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

    @property
    def embedding_dimension(self) -> int:
        """The size of the vectors the trained model embeds to."""
        return self.embedding_dim or get_architecture(self.arch).feature_dimension

    @property
    def proxy_learning_rate(self) -> float:
        """Proxy-anchor's proxies: 100 times the backbone's, as in Kim et al. 2020 (they start far off)."""
        return self.learning_rate * 100

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


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Read a TrainConfig from command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="vitrine train",
        description=(
            "Fine-tune or train an embedder on a shop's own photos: supervised, SimCLR, SupCon, "
            "multi-similarity or proxy-anchor."
        ),
    )
    parser.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument(
        "--data", required=True, type=Path, help="class-per-folder tree or Grocery Store dataset/"
    )
    parser.add_argument("--val-data", type=Path, help="class-per-folder validation photos (queries)")
    parser.add_argument(
        "--val-mode",
        choices=VAL_MODES,
        default="seen",
        help="seen: val photos of training classes against the training photos; held-out: val photos "
        "of other products against each other (leave-one-out)",
    )
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
    parser.add_argument(
        "--device", default="auto", help="auto (a CUDA GPU where there is one, else the CPU), cpu or cuda[:N]"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--weights", type=Path, help="state dict or Vitrine checkpoint to start from")
    start.add_argument("--from-scratch", action="store_true", help="random initialisation (seeded)")
    parser.add_argument("--freeze-stages", type=int, default=0, help="ResNet: 0-5, EfficientNet-Lite0: 0-8")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument(
        "--photos-per-product",
        type=int,
        default=4,
        help="K in the P x K batches of supcon, multisimilarity, proxyanchor",
    )
    parser.add_argument("--projection-dim", type=int, default=128)
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument(
        "--embedding-dim",
        type=int,
        help="linear head to this size (e.g. 256), saved; default: pooled features",
    )
    parser.add_argument(
        "--catalog-anchors",
        action="store_true",
        help="P x K methods: add each batch's products' catalog images; proxy-anchor proxies start at them",
    )
    args = vars(parser.parse_args(argv))
    args["patience"] = args["patience"] or None
    return TrainConfig(**args)

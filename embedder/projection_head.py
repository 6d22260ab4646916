"""A small MLP that maps backbone features to the embedding space."""

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.nn import functional


class ProjectionHead(nn.Module):
    """Linear layers with ReLU between them: dims [in, hidden..., out] map (N, in) to (N, out).

    normalise_input scales each input row to unit length first, for a head fitted on the unit
    vectors search compares (embedder/pca_head.py) rather than on raw backbone features.
    """

    def __init__(self, dims: Sequence[int], *, bias: bool = True, normalise_input: bool = False) -> None:
        super().__init__()
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"a projection head needs at least two positive dims, got {dims}")
        self.dims = tuple(dims)
        self.bias = bias
        self.normalise_input = normalise_input
        layers: list[nn.Module] = []
        for index, (in_features, out_features) in enumerate(pairwise(dims)):
            if index > 0:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(in_features, out_features, bias=bias))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map features (N, dims[0]) to embeddings (N, dims[-1])."""
        if self.normalise_input:
            x = functional.normalize(x, dim=1)
        output: torch.Tensor = self.layers(x)
        return output

    @property
    def out_features(self) -> int:
        """Size of the output vectors."""
        return self.dims[-1]

    def config(self) -> dict[str, Any]:
        """Describe the head with plain types, as stored in checkpoints."""
        config: dict[str, Any] = {"dims": list(self.dims), "bias": self.bias}
        if self.normalise_input:  # only when set, so older checkpoints' configs read the same
            config["normalise_input"] = True
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ProjectionHead":
        """Build an untrained head from a config written by config()."""
        return cls(
            [int(size) for size in config["dims"]],
            bias=bool(config.get("bias", True)),
            normalise_input=bool(config.get("normalise_input", False)),
        )

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "ProjectionHead":
        """Wrap a single trained nn.Linear, keeping its weights."""
        head = cls([linear.in_features, linear.out_features], bias=linear.bias is not None)
        head.layers[0].load_state_dict(linear.state_dict())
        return head

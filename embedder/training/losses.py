"""The loss each training method minimises; the metric-learning ones come from pytorch-metric-learning.

Multi-similarity: Wang et al., "Multi-Similarity Loss with General Pair Weighting for Deep Metric
Learning", CVPR 2019. Proxy-anchor: Kim et al., "Proxy Anchor Loss for Deep Metric Learning",
CVPR 2020. Both compare cosine similarities of the embeddings (the library's default distance), so
they train the vectors that search compares.
"""

import torch
from pytorch_metric_learning import losses, miners
from torch import nn

from embedder.training.config import TrainConfig
from embedder.training.nt_xent_loss import NTXentLoss


class MultiSimilarityLoss(nn.Module):
    """Multi-similarity loss over the pairs its miner keeps: embeddings (N, D) and labels (N,) to a scalar.

    The miner keeps a negative pair only if it is more similar than the anchor's least similar
    positive minus epsilon, and a positive only if it is less similar than the most similar
    negative plus epsilon; the loss then weighs those pairs by their similarity to each other and
    to a margin (base). The defaults are the paper's (alpha 2, beta 50, base 0.5, epsilon 0.1).
    It needs several photos of a product in a batch: P x K batches.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float = 0.1):
        super().__init__()
        self.miner = miners.MultiSimilarityMiner(epsilon=epsilon)
        self.loss = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of embeddings (N, D) with labels (N,); 0 (with a gradient) when no pair is mined."""
        embeddings = embeddings.float()
        pairs = self.miner(embeddings, labels)
        return self.loss(embeddings, labels, pairs)  # type: ignore[no-any-return]


class ProxyAnchorLoss(nn.Module):
    """Proxy-anchor loss: one learned proxy (D,) per product; embeddings (N, D), labels (N,) to a scalar.

    Each proxy is an anchor that pulls the batch's photos of its product and pushes the others
    (margin 0.1, scale alpha 32, the paper's values). The proxies are parameters: the optimiser
    must train them, at a higher learning rate than the backbone (TrainConfig.proxy_learning_rate).
    """

    def __init__(self, class_count: int, embedding_dimension: int, margin: float = 0.1, alpha: float = 32.0):
        super().__init__()
        self.loss = losses.ProxyAnchorLoss(class_count, embedding_dimension, margin=margin, alpha=alpha)

    @property
    def proxies(self) -> nn.Parameter:
        """The (class_count, D) proxies, row i for label i."""
        proxies: nn.Parameter = self.loss.proxies
        return proxies

    def set_proxies(self, labels: torch.Tensor, vectors: torch.Tensor) -> None:
        """Start the proxies of labels (M,) at vectors (M, D), e.g. the catalog images' embeddings."""
        # The catalog's vectors come back from the embedder on the CPU; the proxies live where the
        # run trains (a GPU).
        device = self.proxies.device
        with torch.no_grad():
            self.proxies[labels.to(device)] = vectors.to(device, self.proxies.dtype)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of embeddings (N, D) with labels (N,)."""
        return self.loss(embeddings.float(), labels)  # type: ignore[no-any-return]


def training_loss(config: TrainConfig, class_count: int) -> nn.Module:
    """The loss a run of config minimises, called as the training loop calls it for that method."""
    if config.method == "supervised":
        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if config.method == "multisimilarity":
        return MultiSimilarityLoss()
    if config.method == "proxyanchor":
        return ProxyAnchorLoss(class_count, config.embedding_dimension)
    return NTXentLoss(config.temperature)

"""The contrastive losses of SimCLR (NT-Xent) and SupCon over two views, from pytorch-metric-learning.

SimCLR: Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020. SupCon: Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.

Our own NT-Xent was replaced by the library's `NTXentLoss` and `SupConLoss`: on the same tensors
they give the same loss to float precision (tests/embedder/training/test_nt_xent_loss.py checks
both against a reference written from the papers' formulas), so ours did not earn its place.
This module only adapts the training loop's call, two views and optional labels, to the
library's one, embeddings and labels.
"""

import torch
from pytorch_metric_learning import losses
from torch import nn


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross entropy over two views of a batch.

    The 2N embeddings z_a and z_b are compared by cosine similarity divided by the temperature;
    each is an anchor and every other one a candidate. Without labels the only positive of z_a[i]
    is z_b[i] (SimCLR's NT-Xent); with labels, every other embedding with the anchor's label is a
    positive (SupCon's L_out). With all labels distinct the two coincide. The mean over the 2N anchors.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.simclr = losses.NTXentLoss(temperature=temperature)
        self.supcon = losses.SupConLoss(temperature=temperature)

    def forward(
        self, z_a: torch.Tensor, z_b: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of views z_a (N, D) and z_b (N, D), optionally with labels (N,); a scalar."""
        if z_a.ndim != 2 or z_a.shape != z_b.shape:
            raise ValueError(f"need two (N, D) tensors of the same shape, got {z_a.shape} and {z_b.shape}")
        n = z_a.shape[0]
        if labels is not None and labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        embeddings = torch.cat([z_a, z_b]).float()
        if labels is None:  # the two views of sample i share the label i
            views = torch.arange(n, device=z_a.device)
            return self.simclr(embeddings, torch.cat([views, views]))  # type: ignore[no-any-return]
        return self.supcon(embeddings, torch.cat([labels, labels]))  # type: ignore[no-any-return]

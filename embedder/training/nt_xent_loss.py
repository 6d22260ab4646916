"""The NT-Xent contrastive loss of SimCLR and its supervised variant, SupCon.

SimCLR: Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020. SupCon: Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.
"""

import torch
from torch import nn
from torch.nn import functional


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross entropy over two views of a batch.

    The 2N embeddings z_a and z_b are L2-normalised and compared by cosine similarity divided by the
    temperature. Each of them is an anchor; every other embedding in the batch is a candidate (the
    anchor itself never is). Without labels the only positive of z_a[i] is z_b[i] and the loss is
    SimCLR's NT-Xent. With labels, every other embedding with the anchor's label is a positive and the
    loss is SupCon's L_out: for anchor i with positives P(i),

        loss_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / t) / sum_{j != i} exp(s_ij / t) ).

    With all labels distinct the two coincide. The result is the mean over the 2N anchors.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(
        self, z_a: torch.Tensor, z_b: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of views z_a (N, D) and z_b (N, D), optionally with labels (N,); a scalar."""
        if z_a.ndim != 2 or z_a.shape != z_b.shape:
            raise ValueError(f"need two (N, D) tensors of the same shape, got {z_a.shape} and {z_b.shape}")
        n = z_a.shape[0]
        if labels is None:
            labels = torch.arange(n, device=z_a.device)
        elif labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        z = functional.normalize(torch.cat([z_a, z_b]).float(), dim=1)
        logits = z @ z.T / self.temperature
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        # The anchor is no candidate for itself: -inf drops it from the logsumexp below.
        logits = logits.masked_fill(self_mask, float("-inf"))
        log_probability = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        both_labels = torch.cat([labels, labels])
        positives = (both_labels[:, None] == both_labels[None, :]) & ~self_mask
        # Each anchor has at least its other view as a positive, so no count is zero. The masked
        # diagonal holds -inf, which must not reach the sum as 0 * -inf = nan.
        positive_log_probability = log_probability.masked_fill(~positives, 0.0).sum(dim=1)
        loss = -(positive_log_probability / positives.sum(dim=1)).mean()
        return loss

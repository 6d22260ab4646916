"""Fine-tune or train an embedder on a shop's own photos: supervised, SimCLR or SupCon (`vitrine train`).

The embedding is always the backbone's pooled features: the classification head (supervised) and
the projection head (SimCLR, SupCon) only shape them during training and are not saved in best.pt,
as SimCLR (Chen et al. 2020, section 4.2) found the features before the projection head better.
"""

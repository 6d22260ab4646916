"""Loading models once per process (backend/model_provider.py)."""

from __future__ import annotations

import gc

from backend.model_provider import ModelProvider


def test_a_loaded_model_is_kept_out_of_full_collections() -> None:
    gc.unfreeze()
    provider = ModelProvider("efficientnet_lite0")
    embedder = provider.get()
    assert gc.get_freeze_count() > 0
    assert provider.get() is embedder

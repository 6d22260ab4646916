"""Vitrine's image embedder: load images safely and turn them into unit vectors.

This package knows nothing of the backend; the backend depends on exactly what is exported here.
"""

from embedder.checkpoint import load_checkpoint, save_checkpoint
from embedder.embedding import Embedder, ModelInfo
from embedder.errors import ImageLoadError, ImageTooLargeError, ModelLoadError, RegionTooSmallError
from embedder.images import DEFAULT_MAX_PIXELS, load_image
from embedder.preprocessing import Preprocessing
from embedder.projection_head import ProjectionHead
from embedder.registry import available_models, load_embedder

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Embedder",
    "ImageLoadError",
    "ImageTooLargeError",
    "ModelInfo",
    "ModelLoadError",
    "Preprocessing",
    "ProjectionHead",
    "RegionTooSmallError",
    "available_models",
    "load_checkpoint",
    "load_embedder",
    "load_image",
    "save_checkpoint",
]

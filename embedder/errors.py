"""Errors raised by the embedder package."""


class ImageLoadError(ValueError):
    """An image could not be read or decoded; the message names the file and the reason."""


class ImageTooLargeError(ImageLoadError):
    """An image has more pixels than allowed (a guard against decompression bombs)."""


class RegionTooSmallError(ImageLoadError):
    """The region asked for holds too few pixels of the photo to search."""


class ModelLoadError(RuntimeError):
    """A model or its weights could not be loaded."""

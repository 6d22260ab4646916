"""Read untrusted image files into fully loaded RGB images."""

import io
import os
import struct
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from embedder.errors import ImageLoadError, ImageTooLargeError

DEFAULT_MAX_PIXELS = 40_000_000
# The formats a shop's photos come in ("JPEG" also opens the MPO files of many phone cameras).
# Pillow would also open icons, PSDs and others, whose headers can declare one size and hold a
# far larger image.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Longer side over shorter side. A model resizes the shorter side to its input size, so an 8000x1
# strip of a few bytes would become an image of gigabytes; no product photo is this elongated.
MAX_ASPECT_RATIO = 20

ImageSource = str | os.PathLike[str] | bytes | BinaryIO

# What Pillow raises on malformed data; UnidentifiedImageError and truncation are OSErrors.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """Read an image from a path, bytes or binary file; draft=(w, h) lets JPEGs decode at reduced size."""
    label = name or _describe(source)
    with warnings.catch_warnings():
        # Pillow's own bomb check warns before it raises; treat both as "too large".
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(opened, formats=ACCEPTED_FORMATS) as image:
                # Image.open only reads the header, so these reject a bomb before decoding it.
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLargeError(
                        f"{label}: {width}x{height} pixels is over the limit of {max_pixels}"
                    )
                if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
                    raise ImageLoadError(
                        f"{label}: {width}x{height} pixels is more elongated than {MAX_ASPECT_RATIO}:1"
                    )
                if draft is not None:
                    # Before load(): libjpeg then decodes at 1/2, 1/4 or 1/8 scale, whichever is the
                    # smallest still at least (w, h), in the DCT, instead of decoding every pixel.
                    image.draft(None, draft)
                image.load()
                oriented = _apply_orientation(image)
        except ImageLoadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            # Pillow's own limit (a frame inside the file, say): report ours, which is what applies.
            raise ImageTooLargeError(f"{label}: more pixels than the limit of {max_pixels}") from error
        except FileNotFoundError as error:
            raise ImageLoadError(f"{label}: no such file") from error
        except UnidentifiedImageError as error:
            accepted = ", ".join(ACCEPTED_FORMATS)
            raise ImageLoadError(f"{label}: not a recognised image format (accepted: {accepted})") from error
        except _DECODE_ERRORS as error:
            raise ImageLoadError(f"{label}: cannot read image ({error})") from error
    try:
        return to_rgb(oriented)
    except ValueError as error:
        raise ImageLoadError(f"{label}: {error}") from error


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert an image of any Pillow mode to RGB, compositing transparency onto white."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_scale_to_bytes(image)).convert("RGB")
    if image.mode in ("P", "PA", "RGBA", "RGBa", "LA", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ValueError(f"cannot convert image mode {image.mode} to RGB") from error


def _scale_to_bytes(image: Image.Image) -> np.ndarray:
    """Map a high bit depth grayscale image onto 0..255."""
    pixels = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        pixels = pixels / 257.0
    elif image.mode == "F" and pixels.size and np.nanmax(pixels) <= 1.0:
        # Float images are usually either 0..1 intensities or already in 0..255.
        pixels = pixels * 255.0
    elif image.mode == "I" and pixels.size and pixels.max() > 255:
        # 16-bit PNGs open as mode I; assume the 16-bit range rather than clipping to white.
        pixels = pixels / 257.0
    return np.clip(np.nan_to_num(pixels), 0, 255).round().astype(np.uint8)


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate or flip the image as its EXIF Orientation tag says."""
    try:
        transposed = ImageOps.exif_transpose(image)
    except (*_DECODE_ERRORS, KeyError, TypeError):
        # Broken EXIF metadata is common in the wild; an unrotated image beats a rejected one.
        return image.copy()
    return transposed if transposed is not None else image.copy()


def _describe(source: ImageSource) -> str:
    """Name an image source for error messages."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    file_name = getattr(source, "name", None)
    if isinstance(file_name, str):
        return file_name
    return "uploaded image"

"""Read untrusted image files into fully loaded RGB images."""

import io
import math
import os
import struct
import warnings
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from embedder.errors import ImageLoadError, ImageTooLargeError, RegionTooSmallError

DEFAULT_MAX_PIXELS = 40_000_000
# The formats a shop's photos come in ("JPEG" also opens the MPO files of many phone cameras).
# Pillow would also open icons, PSDs and others, whose headers can declare one size and hold a
# far larger image.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Longer side over shorter side. A model resizes the shorter side to its input size, so an 8000x1
# strip of a few bytes would become an image of gigabytes; no product photo is this elongated.
MAX_ASPECT_RATIO = 20

# The fewest pixels a side of a searched region may have; a model sees nothing in less.
MIN_REGION_PIXELS = 16
# Pixels converted to RGB at a time (1 MB of RGBA): the conversion's copies stay that small.
STRIP_PIXELS = 250_000
ORIENTATION_TAG = 0x0112

ImageSource = str | os.PathLike[str] | bytes | BinaryIO
Region = tuple[float, float, float, float]
Box = tuple[int, int, int, int]

# What Pillow raises on malformed data; UnidentifiedImageError and truncation are OSErrors.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: tuple[int, int] | None = None,
    reduce_to: int | None = None,
    region: Region | None = None,
) -> Image.Image:
    """Read an image from a path, bytes or binary file as RGB, the way its EXIF orientation shows it.

    draft=(w, h) lets JPEGs decode at reduced size. region=(left, top, right, bottom), fractions of
    the oriented photo, keeps only that box. reduce_to=n decodes and shrinks by a whole factor while
    the (region's) shorter side stays at least n pixels: what a model that resizes its input to n
    sees barely changes, and the memory a large photo costs does.
    """
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
                # A JPEG's EXIF is in its header; other formats may keep it after the pixels.
                orientation = _orientation(image) if image.format == "JPEG" else 1
                _check_region(region, orientation, image.size)
                box = _box(region, orientation, image.size)
                if draft is None and reduce_to is not None and image.format == "JPEG":
                    draft = _draft_size(image.size, box, reduce_to)
                if draft is not None:
                    # Before load(): libjpeg then decodes at 1/2, 1/4 or 1/8 scale, whichever is the
                    # smallest still at least (w, h), in the DCT, instead of decoding every pixel.
                    image.draft(None, draft)
                image.load()
                # Other formats' orientation is known only now: check the region as it is shown.
                orientation = _orientation(image)
                _check_region(region, orientation, (width, height))
                box = _box(region, orientation, image.size)
                shorter = min(box[2] - box[0], box[3] - box[1])
                factor = max(1, shorter // reduce_to) if reduce_to else 1
                return _orient(_reduced_rgb(image, box, factor), orientation)
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


def probe(source: ImageSource) -> tuple[str, tuple[int, int]]:
    """An image's format and its size as shown (after EXIF orientation), for an image load_image accepted."""
    opened = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(opened, formats=ACCEPTED_FORMATS) as image:
        width, height = image.size
        # Pillow's PNG reader decodes the whole image to look for an eXIf chunk after the pixels;
        # the header's chunk (where writers put it) is read without decoding anything.
        header_only = image.format == "PNG" and "exif" not in image.info
        turned = not header_only and _orientation(image) in (5, 6, 7, 8)
        return image.format or "", (height, width) if turned else (width, height)


def _check_region(region: Region | None, orientation: int, size: tuple[int, int]) -> None:
    """Refuse a region whose box in the full-size image is under MIN_REGION_PIXELS a side or too thin."""
    if region is None:
        return
    box = _box(region, orientation, size)
    sides = (box[2] - box[0], box[3] - box[1])
    if min(sides) < MIN_REGION_PIXELS:
        raise RegionTooSmallError(
            f"the region is smaller than {MIN_REGION_PIXELS} pixels a side of this photo"
        )
    if max(sides) > MAX_ASPECT_RATIO * min(sides):
        # As for a whole photo: the model's resize would blow a thin strip up to gigabytes.
        raise RegionTooSmallError(f"the region is more elongated than {MAX_ASPECT_RATIO}:1")


def _reduced_rgb(image: Image.Image, box: Box, factor: int) -> Image.Image:
    """The box of a loaded image as RGB, shrunk by a whole factor, converted a strip at a time.

    Converting (and compositing transparency) a strip at a time keeps what the conversion
    allocates to a strip's worth instead of several copies of the whole image; compositing before
    averaging gives the same pixels as after, as both are linear.
    """
    left, top, right, bottom = box
    out = Image.new("RGB", (-(-(right - left) // factor), -(-(bottom - top) // factor)))
    rows = max(factor, STRIP_PIXELS // max(1, right - left) // factor * factor)
    # A high bit depth image is scaled by its whole range, not each strip's: strips stay alike.
    peak = _peak(image) if image.mode in _HIGH_BIT_MODES else None
    for y in range(top, bottom, rows):
        try:
            strip = to_rgb(image.crop((left, y, right, min(y + rows, bottom))), peak=peak)
        except ValueError as error:
            raise ImageLoadError(str(error)) from error
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, (y - top) // factor))
    return out


def _box(region: Region | None, orientation: int, size: tuple[int, int]) -> Box:
    """The pixel box in the stored (unrotated) image that shows a region of the oriented photo."""
    width, height = size
    if region is None:
        return (0, 0, width, height)
    left, top, right, bottom = region
    to_stored = _STORED_POINT.get(orientation, _STORED_POINT[1])
    corners = [to_stored(u, v) for u, v in ((left, top), (right, bottom))]
    xs, ys = sorted(x for x, _ in corners), sorted(y for _, y in corners)
    return (round(xs[0] * width), round(ys[0] * height), round(xs[1] * width), round(ys[1] * height))


# For each EXIF orientation, where the point (u, v) of the oriented photo (fractions of its width
# and height) lies in the stored image. exif_transpose's transposes, inverted.
_STORED_POINT: dict[int, Callable[[float, float], tuple[float, float]]] = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (v, 1 - u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (1 - v, u),
}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _draft_size(size: tuple[int, int], box: Box, reduce_to: int) -> tuple[int, int] | None:
    """The decoded size a JPEG draft may go down to while the box keeps reduce_to pixels a side."""
    shorter = min(box[2] - box[0], box[3] - box[1])
    if shorter <= reduce_to:
        return None
    scale = reduce_to / shorter
    return (math.ceil(size[0] * scale), math.ceil(size[1] * scale))


def _orientation(image: Image.Image) -> int:
    """The EXIF Orientation tag (1: as stored)."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except (*_DECODE_ERRORS, KeyError, TypeError):
        # Broken EXIF metadata is common in the wild; an unrotated image beats a rejected one.
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _orient(image: Image.Image, orientation: int) -> Image.Image:
    """Rotate or flip an image as its EXIF orientation says it is shown."""
    method = _TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


_HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def to_rgb(image: Image.Image, *, peak: float | None = None) -> Image.Image:
    """Convert an image of any Pillow mode to RGB, compositing transparency onto white.

    peak: for a part of a high bit depth image, the largest value of the whole image (its range
    decides how values map onto 0..255); by default the image's own.
    """
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in _HIGH_BIT_MODES:
        return Image.fromarray(_scale_to_bytes(image, peak)).convert("RGB")
    if image.mode in ("P", "PA", "RGBA", "RGBa", "LA", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ValueError(f"cannot convert image mode {image.mode} to RGB") from error


def _peak(image: Image.Image) -> float:
    """The largest value of a high bit depth image (NaN ignored), read a strip at a time."""
    rows = max(1, STRIP_PIXELS // max(1, image.width))
    strips = (
        image.crop((0, y, image.width, min(y + rows, image.height))) for y in range(0, image.height, rows)
    )
    return max((_array_peak(np.asarray(strip, dtype=np.float64)) for strip in strips), default=-math.inf)


def _array_peak(pixels: np.ndarray) -> float:
    finite_or_inf = pixels[~np.isnan(pixels)]
    return float(finite_or_inf.max()) if finite_or_inf.size else -math.inf


def _scale_to_bytes(image: Image.Image, peak: float | None = None) -> np.ndarray:
    """Map a high bit depth grayscale image onto 0..255 (peak: see to_rgb)."""
    pixels = np.asarray(image, dtype=np.float64)
    if peak is None:
        peak = _array_peak(pixels)
    if image.mode.startswith("I;16"):
        pixels = pixels / 257.0
    elif image.mode == "F" and pixels.size and peak <= 1.0:
        # Float images are usually either 0..1 intensities or already in 0..255.
        pixels = pixels * 255.0
    elif image.mode == "I" and peak > 255:
        # 16-bit PNGs open as mode I; assume the 16-bit range rather than clipping to white.
        pixels = pixels / 257.0
    return np.clip(np.nan_to_num(pixels), 0, 255).round().astype(np.uint8)


def _describe(source: ImageSource) -> str:
    """Name an image source for error messages."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    file_name = getattr(source, "name", None)
    if isinstance(file_name, str):
        return file_name
    return "uploaded image"

"""Content-addressed storage of product images on disk."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from backend.errors import InvalidRequest, PayloadTooLarge
from embedder import ImageLoadError, ImageTooLargeError, RegionTooSmallError, load_image
from embedder.images import Region, probe

# How long an unreferenced image file is kept before `collect` deletes it: longer than any write.
UNUSED_GRACE_SECONDS = 3600.0
# Uploads are decoded down to this shorter side (or their region's): above any model's input
# resize, so the vector barely moves, while a 6000x6000 photo costs a fraction of its full decode.
DECODE_SIZE = 512
EXTENSIONS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
}


@dataclass(frozen=True)
class StoredImage:
    """An image accepted into the store."""

    content_hash: str
    storage_key: str
    width: int
    height: int


class ImageStore:
    """Keeps each distinct image once, under the SHA-256 of its bytes."""

    def __init__(self, root: Path, *, max_pixels: int) -> None:
        self.root = root
        self.max_pixels = max_pixels

    def put(self, data: bytes, *, name: str) -> StoredImage:
        """Validate that the bytes are a usable image and store them (idempotent)."""
        checked = self.check(data, name=name)
        self.write(data, checked)
        return checked

    def check(self, data: bytes, *, name: str) -> StoredImage:
        """Validate the bytes as `put` does and say where they would be stored, writing nothing."""
        self.decode(data, name=name)
        content_hash = hashlib.sha256(data).hexdigest()
        extension, (width, height) = _header(data)
        return StoredImage(content_hash, f"{content_hash[:2]}/{content_hash}{extension}", width, height)

    def write(self, data: bytes, checked: StoredImage) -> bool:
        """Store checked bytes under their key; False when the file was already there."""
        if hashlib.sha256(data).hexdigest() != checked.content_hash:
            raise InvalidRequest(f"image {checked.storage_key!r} changed after it was checked")
        target = self.root / checked.storage_key
        if target.exists():
            # A fresh time keeps `collect` off a file that a write in progress is about to reference.
            os.utime(target)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            handle.write(data)
            temporary = Path(handle.name)
        os.replace(temporary, target)
        return True

    def collect(self, referenced: set[str], *, unused_for: float = UNUSED_GRACE_SECONDS) -> int:
        """Delete files no row references and no write has touched for `unused_for` seconds.

        Returns how many were deleted. The grace period covers a write between copying a file
        and committing its row (an import's transaction can take minutes): a file shared with
        such a write was touched by it, so it stays.
        """
        cutoff = time.time() - unused_for
        removed = 0
        for path in self.root.glob("*/*"):
            key = f"{path.parent.name}/{path.name}"
            try:
                if key not in referenced and path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # removed meanwhile by another collector
                continue
        return removed

    def remove(self, storage_keys: Iterable[str]) -> None:
        """Delete stored files (those a failed write left behind); missing ones are fine."""
        for storage_key in storage_keys:
            (self.root / storage_key).unlink(missing_ok=True)

    def decode(self, data: bytes, *, name: str, region: Region | None = None) -> Image.Image:
        """Decode bytes into an RGB image (of a region of it), mapping failures to request errors.

        The image comes reduced to about DECODE_SIZE on its (region's) shorter side.
        """
        try:
            return load_image(
                data, name=name, max_pixels=self.max_pixels, reduce_to=DECODE_SIZE, region=region
            )
        except ImageTooLargeError as error:
            raise PayloadTooLarge(str(error)) from error
        except RegionTooSmallError as error:
            raise InvalidRequest(str(error), details={"field": "region"}) from error
        except ImageLoadError as error:
            raise InvalidRequest(str(error)) from error

    def path(self, storage_key: str) -> Path:
        """Where a stored image lives on disk."""
        return self.root / storage_key

    def load(self, storage_key: str) -> Image.Image:
        """Load a stored image as RGB."""
        return load_image(self.path(storage_key), max_pixels=self.max_pixels)


def _header(data: bytes) -> tuple[str, tuple[int, int]]:
    """The file extension for an image's format, and its size as shown."""
    image_format, size = probe(data)
    return EXTENSIONS.get(image_format, ".img"), size

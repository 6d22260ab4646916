"""Small generated pictures for tests that need image bytes but not real photos."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def picture_bytes(colour: tuple[int, int, int], *, size: int = 64, mark: int = 0, fmt: str = "JPEG") -> bytes:
    """A square of one colour with a small mark, so two calls with different marks differ."""
    image = Image.new("RGB", (size, size), colour)
    ImageDraw.Draw(image).rectangle([mark % size, 0, mark % size + 4, 4], fill=(255 - colour[0], 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()

"""A PNG grid of queries and their top results, framed green where right and red where wrong."""

import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps

from embedder.images import load_image

CELL = 128  # thumbnail side in pixels
FRAME = 5  # border width around each thumbnail
GAP = 8  # space between cells
QUERY_GAP = 24  # extra space that sets the query column apart from its results
HEADER = 22  # strip above the grid that names the columns
CAPTION = 16  # line under each thumbnail for its caption
MARGIN = 10

BACKGROUND = (255, 255, 255)
CELL_BACKGROUND = (236, 236, 236)
TEXT = (30, 30, 30)
QUERY_FRAME = (90, 90, 90)
RIGHT = (36, 160, 60)
WRONG = (210, 40, 40)

ImagePath = str | os.PathLike[str]


def sheet_size(rows: int, k: int) -> tuple[int, int]:
    """Width and height in pixels of a sheet with the given rows and results per row."""
    box = CELL + 2 * FRAME
    width = 2 * MARGIN + (k + 1) * box + k * GAP + QUERY_GAP
    height = 2 * MARGIN + HEADER + rows * (box + CAPTION) + max(rows - 1, 0) * GAP
    return width, height


def write_contact_sheet(
    path: ImagePath,
    query_paths: Sequence[ImagePath],
    ranked_gallery_paths: Sequence[Sequence[ImagePath]],
    correct: npt.NDArray[np.bool_],
    k: int = 5,
    rows: int = 8,
    *,
    query_captions: Sequence[str] | None = None,
    result_captions: Sequence[Sequence[str]] | None = None,
) -> None:
    """Draw the first `rows` queries, each followed by its top k results, and save a PNG at path."""
    drawn = min(rows, len(query_paths))
    marks = np.asarray(correct, dtype=bool)
    if k < 1 or drawn < 1:
        raise ValueError(f"a contact sheet needs k >= 1 and at least one row, got k={k}, rows={drawn}")
    if len(ranked_gallery_paths) < drawn or any(len(row) < k for row in ranked_gallery_paths[:drawn]):
        raise ValueError(f"ranked_gallery_paths needs at least {k} paths for each of {drawn} queries")
    if marks.ndim != 2 or marks.shape[0] < drawn or marks.shape[1] < k:
        raise ValueError(f"correct must have shape (>= {drawn}, >= {k}), got {marks.shape}")
    font = ImageFont.load_default(size=12)
    sheet = Image.new("RGB", sheet_size(drawn, k), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    box = CELL + 2 * FRAME
    columns = [MARGIN] + [MARGIN + box + QUERY_GAP + rank * (box + GAP) for rank in range(k)]
    draw.text((columns[0], MARGIN), "query", fill=TEXT, font=font)
    for rank in range(k):
        draw.text((columns[rank + 1], MARGIN), f"#{rank + 1}", fill=TEXT, font=font)
    for row in range(drawn):
        top = MARGIN + HEADER + row * (box + CAPTION + GAP)
        caption = query_captions[row] if query_captions is not None else ""
        _draw_cell(sheet, draw, font, (columns[0], top), query_paths[row], QUERY_FRAME, caption)
        for rank in range(k):
            colour = RIGHT if marks[row, rank] else WRONG
            caption = result_captions[row][rank] if result_captions is not None else ""
            corner = (columns[rank + 1], top)
            _draw_cell(sheet, draw, font, corner, ranked_gallery_paths[row][rank], colour, caption)
    sheet.save(path, format="PNG")


def _draw_cell(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    corner: tuple[int, int],
    image_path: ImagePath,
    frame: tuple[int, int, int],
    caption: str,
) -> None:
    """One framed thumbnail, letterboxed to a square, with its caption underneath."""
    left, top = corner
    box = CELL + 2 * FRAME
    draw.rectangle((left, top, left + box - 1, top + box - 1), fill=frame)
    draw.rectangle(
        (left + FRAME, top + FRAME, left + FRAME + CELL - 1, top + FRAME + CELL - 1), fill=CELL_BACKGROUND
    )
    thumbnail = ImageOps.contain(load_image(image_path), (CELL, CELL))
    offset = ((CELL - thumbnail.width) // 2, (CELL - thumbnail.height) // 2)
    sheet.paste(thumbnail, (left + FRAME + offset[0], top + FRAME + offset[1]))
    if caption:
        draw.text((left, top + box + 2), _fit(caption, draw, font, box), fill=TEXT, font=font)


def _fit(
    text: str, draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> str:
    """The text, shortened with an ellipsis until it is no wider than width pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."

"""Tests for contact sheets of queries and their top results."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedder.evaluation.contact_sheet import sheet_size, write_contact_sheet
from tests.embedder.evaluation.conftest import write_picture


def test_contact_sheet_has_a_row_per_query(tmp_path: Path) -> None:
    pictures = [write_picture(tmp_path / f"{index}.png", (90, 90, 90), index) for index in range(4)]
    sheet = tmp_path / "sheet.png"
    correct = np.array([[True, False, True], [False, False, True]])
    write_contact_sheet(sheet, pictures[:2], [pictures[1:], pictures[:3]], correct, k=3, rows=8)
    with Image.open(sheet) as image:
        assert image.size == sheet_size(2, 3)
    with pytest.raises(ValueError, match="correct must have shape"):
        write_contact_sheet(sheet, pictures[:2], [pictures[1:], pictures[:3]], correct[:1], k=3)

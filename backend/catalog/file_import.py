"""Reading and checking a catalog file (JSON lines or CSV) and its images before an import.

Every row is validated and every image decoded before anything is written, to the database
or to the image store; one bad row fails the whole file and each problem is reported with
its line number. `CatalogService.import_file` then writes what passed, in one transaction.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.catalog.image_store import ImageStore, StoredImage
from backend.catalog.validation import ProductFields, parse_product
from backend.errors import InvalidRequest, VitrineError

IMAGE_SEPARATOR = "|"


@dataclass(frozen=True)
class RowProblem:
    """Why one line of an import file was rejected."""

    line: int
    message: str


class ImportFailed(InvalidRequest):
    """The file had bad rows; nothing was imported."""

    def __init__(self, path: Path, problems: list[RowProblem]) -> None:
        super().__init__(
            f"{path.name}: {len(problems)} bad row(s); nothing was imported",
            details={"rows": [{"line": p.line, "error": p.message} for p in problems]},
        )
        self.problems = problems


@dataclass(frozen=True)
class CheckedImage:
    """An image file of a row, decoded and hashed, not yet copied into the image store."""

    name: str
    path: Path
    image: StoredImage


@dataclass(frozen=True)
class ValidRow:
    line: int
    fields: ProductFields
    images: list[CheckedImage]


def validate_file(store: ImageStore, path: Path, images_dir: Path) -> list[ValidRow]:
    """Parse and check every row; raise ImportFailed listing every problem."""
    problems: list[RowProblem] = []
    rows: list[ValidRow] = []
    seen_skus: dict[str, int] = {}
    root = images_dir.resolve()
    for line, record in read_records(path):
        try:
            row = _validate_row(store, line, record, root)
        except VitrineError as error:
            problems.append(RowProblem(line, error.message))
            continue
        sku = row.fields["sku"]
        if sku in seen_skus:
            problems.append(RowProblem(line, f"sku {sku!r} already appears on line {seen_skus[sku]}"))
            continue
        seen_skus[sku] = line
        rows.append(row)
    if problems:
        raise ImportFailed(path, problems)
    if not rows:
        raise InvalidRequest(f"{path.name}: the file has no products")
    return rows


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowProblem]]:
    """(line number, record) pairs from a .jsonl or .csv file; unreadable lines give a problem."""
    if not path.is_file():
        raise InvalidRequest(f"catalog file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        yield from _read_json_lines(path)
    elif suffix == ".csv":
        yield from _read_csv(path)
    else:
        raise InvalidRequest(f"{path.name}: unsupported catalog format; use .jsonl or .csv")


def _read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowProblem]]:
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield line_number, RowProblem(line_number, f"malformed JSON: {error.msg}")
                continue
            if not isinstance(record, dict):
                yield line_number, RowProblem(line_number, "each line must be a JSON object")
                continue
            yield line_number, record


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowProblem]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for raw in reader:
            line = reader.line_num
            if None in raw:
                yield line, RowProblem(line, "more values than header columns")
                continue
            yield line, _csv_record(line, raw)


def _csv_record(line: int, raw: dict[str, str]) -> dict[str, Any] | RowProblem:
    record: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for column, value in raw.items():
        value = value if value is not None else ""
        if column.startswith("attr."):
            if value != "":
                attributes[column.removeprefix("attr.")] = value
        elif column == "attributes":
            if value.strip():
                try:
                    attributes.update(json.loads(value))
                except (json.JSONDecodeError, TypeError, ValueError):
                    return RowProblem(line, "attributes must be a JSON object")
        elif column == "images":
            record["images"] = [part.strip() for part in value.split(IMAGE_SEPARATOR) if part.strip()]
        elif value != "":
            record[column] = value
    if attributes:
        record["attributes"] = attributes
    return record


def _validate_row(store: ImageStore, line: int, record: dict[str, Any] | RowProblem, root: Path) -> ValidRow:
    if isinstance(record, RowProblem):
        raise InvalidRequest(record.message)
    fields = parse_product(record, extra_fields=("images",))
    names = record.get("images", [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidRequest("images must be a list of file paths")
    if not names:
        raise InvalidRequest("a product needs at least one image")
    images = [_check_image(store, root, name) for name in names]
    return ValidRow(line, fields, images)


def _check_image(store: ImageStore, root: Path, name: str) -> CheckedImage:
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise InvalidRequest(f"image {name!r} is outside the images folder {str(root)!r}")
    if not path.is_file():
        raise InvalidRequest(f"image {name!r} not found under {str(root)!r}")
    return CheckedImage(name, path, store.check(path.read_bytes(), name=name))

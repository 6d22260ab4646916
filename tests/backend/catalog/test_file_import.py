"""Importing catalog files: validation with line numbers, all or nothing, upsert by SKU."""

import json
from pathlib import Path
from typing import Any

import pytest

from backend.catalog import queries as catalog
from backend.catalog.file_import import ImportFailed
from backend.errors import NotFound
from backend.wiring import Services
from tests.pictures import picture_bytes


def write_images(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        name = f"photo-{index}.jpg"
        (folder / name).write_bytes(picture_bytes((40 * index % 255, 120, 90), mark=index))
        names.append(name)
    return names


def row(sku: str, images: list[str], **overrides: object) -> dict[str, object]:
    data = {
        "sku": sku,
        "name": f"Product {sku}",
        "category": "Juice",
        "brand": "Bravo",
        "price": 19.9,
        "currency": "SEK",
        "in_stock": True,
        "attributes": {"volume_ml": 1000},
        "images": images,
    }
    return {**data, **overrides}


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in rows), encoding="utf-8")
    return path


def stored_files(services: Services) -> list[Path]:
    return [path for path in services.images.root.rglob("*") if path.is_file()]


def count_products(services: Services) -> int:
    with services.sessions() as session:
        return catalog.list_products(session)[1]


def test_jsonl_import_creates_products_with_several_images(services: Services, tmp_path: Path) -> None:
    names = write_images(tmp_path / "img", 3)
    path = write_jsonl(tmp_path / "catalog.jsonl", [row("A", names[:2]), row("B", names[2:])])
    report = services.catalog.import_file(path, tmp_path / "img")
    assert (report.created, report.updated, report.images_added) == (2, 0, 3)
    with services.sessions() as session:
        product = catalog.find_product_by_sku(session, "A")
        assert product is not None
        assert len(product.images) == 2
        assert product.attributes == {"volume_ml": 1000}


def test_bad_rows_are_reported_by_line_and_nothing_is_written(services: Services, tmp_path: Path) -> None:
    names = write_images(tmp_path, 2)
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    path = tmp_path / "catalog.jsonl"
    lines = [
        json.dumps(row("GOOD", names[:1])),
        json.dumps(row("NEG", names[1:], price=-5)),
        "{not json",
        json.dumps(row("MISSING", ["nowhere.jpg"])),
        json.dumps(row("CORRUPT", ["broken.jpg"])),
        json.dumps(row("GOOD", names[:1])),
        json.dumps(row("ESCAPE", ["../../etc/passwd"])),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        services.catalog.import_file(path)
    problems = {problem.line: problem.message for problem in caught.value.problems}
    assert sorted(problems) == [2, 3, 4, 5, 6, 7]
    assert "price" in problems[2]
    assert "malformed JSON" in problems[3]
    assert "not found" in problems[4]
    assert "broken.jpg" in problems[5]
    assert "already appears on line 1" in problems[6]
    assert "outside the images folder" in problems[7]
    assert count_products(services) == 0
    assert stored_files(services) == []  # the good rows' images were checked, not stored


def test_a_write_that_fails_removes_the_image_files_it_added(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = write_images(tmp_path, 3)
    services.catalog.import_file(write_jsonl(tmp_path / "a.jsonl", [row("A", names[:1])]))
    kept = stored_files(services)
    attached = []
    add_image = catalog.add_image

    def fail_on_the_third(*args: Any, **kwargs: Any) -> Any:
        attached.append(args)
        if len(attached) == 3:
            raise ConnectionError("database went away")
        return add_image(*args, **kwargs)

    monkeypatch.setattr(catalog, "add_image", fail_on_the_third)
    path = write_jsonl(tmp_path / "b.jsonl", [row("A", names), row("B", names[1:2])])
    with pytest.raises(ConnectionError):
        services.catalog.import_file(path)
    assert len(attached) == 3
    # The file that was there before stays; the two new ones are gone with the transaction.
    assert stored_files(services) == kept
    assert count_products(services) == 1


def test_an_upload_to_a_missing_product_stores_nothing(services: Services) -> None:
    with pytest.raises(NotFound):
        services.catalog.add_image(12345, picture_bytes((1, 2, 3)), "lost.jpg")
    assert stored_files(services) == []


def test_reimport_updates_by_sku_and_adds_only_new_images(services: Services, tmp_path: Path) -> None:
    names = write_images(tmp_path, 3)
    services.catalog.import_file(write_jsonl(tmp_path / "a.jsonl", [row("A", names[:2])]))
    report = services.catalog.import_file(write_jsonl(tmp_path / "b.jsonl", [row("A", names[1:], price=5)]))
    assert (report.created, report.updated, report.images_added) == (0, 1, 1)
    with services.sessions() as session:
        product = catalog.find_product_by_sku(session, "A")
        assert product is not None
        assert float(product.price) == 5.0
        assert len(product.images) == 3


def test_csv_import_with_attribute_columns(services: Services, tmp_path: Path) -> None:
    names = write_images(tmp_path, 2)
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,name,category,brand,price,currency,in_stock,images,attr.colour\n"
        f"C1,Red juice,Juice,Bravo,12.50,SEK,false,{names[0]}|{names[1]},red\n"
        "C2,Bad,Juice,Bravo,free,SEK,true,missing.jpg,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as caught:
        services.catalog.import_file(path)
    assert [problem.line for problem in caught.value.problems] == [3]
    assert stored_files(services) == []
    path.write_text(
        path.read_text(encoding="utf-8").splitlines()[0]
        + "\n"
        + path.read_text(encoding="utf-8").splitlines()[1]
        + "\n"
    )
    services.catalog.import_file(path)
    with services.sessions() as session:
        product = catalog.find_product_by_sku(session, "C1")
        assert product is not None
        assert (product.in_stock, product.attributes, len(product.images)) == (False, {"colour": "red"}, 2)


def test_unknown_format_is_rejected(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "catalog.xml"
    path.write_text("<catalog/>")
    with pytest.raises(Exception, match="unsupported catalog format"):
        services.catalog.import_file(path)

"""Tests for the evaluate command and run_task, with the default embedder on generated images."""

import json
from pathlib import Path

import pytest
from PIL import Image

from embedder import Embedder
from embedder.evaluation.contact_sheet import sheet_size
from embedder.evaluation.evaluate import cutoffs, main, run_task
from embedder.evaluation.tasks import build_task


def test_cutoffs() -> None:
    assert cutoffs(10) == (1, 5, 10)
    assert cutoffs(3) == (1, 3)
    assert cutoffs(1) == (1,)


def test_catalog_task_on_a_miniature_grocery_tree(
    lite0: Embedder, grocery_tree: Path, tmp_path: Path
) -> None:
    report = run_task(lite0, build_task(grocery_tree, "catalog", k=3), tmp_path / "out")
    assert (report["queries"], report["gallery"], report["queries_without_relevant"]) == (6, 3, 0)
    # With k = 3 the whole catalog is ranked, so every query finds its product within it.
    assert report["metrics"]["recall@3"] == 1.0
    assert 1 / 3 <= report["metrics"]["map"] <= 1.0
    with Image.open(tmp_path / "out" / "contact_sheet.png") as image:
        assert image.size == sheet_size(6, 3)


def test_evaluate_command_on_class_folders(
    class_folders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    arguments = ["--model", "efficientnet_lite0", "--data", str(class_folders), "--limit", "6", "--k", "5"]
    assert main([*arguments, "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert report["model"] == "efficientnet_lite0__imagenet__1280"
    assert (report["task"], report["queries"], report["gallery"], report["limit"]) == ("folder", 6, 9, 6)
    assert report["queries_without_relevant"] == 0
    names = ["recall@1", "recall@5", "precision@1", "precision@5", "map@r", "map", "ndcg@5"]
    assert list(report["metrics"]) == names
    assert all(0.0 <= value <= 1.0 for value in report["metrics"].values())
    # Each query has R = 2 among the 8 others, so the best precision@5 is 2/5.
    assert report["metrics"]["precision@5"] <= 0.4
    assert report["seconds"] >= report["embedding_seconds"] > 0
    assert report["contact_sheet"] == str(out / "contact_sheet.png")
    with Image.open(out / "contact_sheet.png") as image:
        assert image.size == sheet_size(6, 5)


def test_evaluate_command_reports_bad_options(
    class_folders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(class_folders), "--task", "catalog"])
    assert exit_info.value.code == 2
    assert "Grocery Store" in capsys.readouterr().err

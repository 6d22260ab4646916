"""Tests for ranking (embedder.retrieval), contact sheets and the evaluate command, on generated images."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from embedder import Embedder, retrieval
from embedder.contact_sheet import sheet_size, write_contact_sheet
from embedder.evaluate import build_task, cutoffs, main, run_task, stratified_subset
from embedder.retrieval import evaluate_retrieval, rank_gallery, relevant_counts, score_rankings

COLOURS = {"berry": (200, 30, 60), "leaf": (40, 170, 50), "sky": (40, 90, 220)}


def unit(rows: list[list[float]]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length."""
    array = np.asarray(rows, dtype=np.float32)
    array /= np.linalg.norm(array, axis=1, keepdims=True)
    return array


def write_picture(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    """A small noisy picture of one colour, with a pale square placed by the seed."""
    generator = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + generator.normal(0, 20, (48, 64, 3)), 0, 255).astype(np.uint8)
    top, left = generator.integers(0, 24, size=2)
    pixels[top : top + 16, left : left + 16] = 235
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    """root/<class>/<image>.png: three classes of three generated pictures."""
    root = tmp_path / "folders"
    for number, (name, colour) in enumerate(COLOURS.items()):
        for index in range(3):
            write_picture(root / name / f"{index}.png", colour, seed=10 * number + index)
    return root


@pytest.fixture
def grocery_tree(tmp_path: Path) -> Path:
    """A miniature Grocery Store dataset/ folder: three products, two train and two test photos each."""
    root = tmp_path / "dataset"
    classes = [
        "Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int),Iconic,Description"
    ]
    splits: dict[str, list[str]] = {"train": [], "test": [], "val": []}
    for label, (name, colour) in enumerate(COLOURS.items()):
        iconic = f"iconic-images-and-descriptions/{name}/{name}_Iconic.png"
        write_picture(root / iconic, colour, seed=100 + label)
        classes.append(f"{name},{label},Colour,0,/{iconic},/{name}.txt")
        for split in ("train", "test"):
            for index in range(2):
                relative = f"{split}/{name}/{name}_{index}.png"
                write_picture(root / relative, colour, seed=1000 * label + 10 * index + len(split))
                splits[split].append(f"{relative}, {label}, 0")
    (root / "classes.csv").write_text("\n".join(classes) + "\n", encoding="utf-8")
    for split, lines in splits.items():
        (root / f"{split}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root


def test_rank_gallery_orders_by_cosine_similarity() -> None:
    gallery = unit([[1, 0], [0, 1], [1, 1], [-1, 0]])
    queries = unit([[1, 0.1], [0, 1]])
    indices, labels = rank_gallery(queries, gallery, np.array([10, 11, 12, 13]), 3)
    # Query 0 lies nearest [1, 0], then the diagonal, then [0, 1]; query 1 is [0, 1] itself.
    assert indices.tolist() == [[0, 2, 1], [1, 2, 0]]
    assert labels.tolist() == [[10, 12, 11], [11, 12, 10]]


def test_rank_gallery_keeps_gallery_order_for_ties() -> None:
    gallery = unit([[0, 1], [1, 0], [0, 1], [1, 0]])
    indices, _ = rank_gallery(unit([[1, 0]]), gallery, np.zeros(4), None)
    assert indices.tolist() == [[1, 3, 0, 2]]


def test_rank_gallery_excludes_self_matches() -> None:
    vectors = unit([[1, 0], [1, 0.2], [0, 1]])
    indices, labels = rank_gallery(vectors[:2], vectors, np.array([5, 5, 6]), None, exclude_self=True)
    assert indices.tolist() == [[1, 2], [0, 2]]
    assert labels.tolist() == [[5, 6], [5, 6]]


def test_rank_gallery_is_the_same_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit(np.random.default_rng(0).normal(size=(7, 4)).tolist())
    labels = np.arange(7)
    whole = rank_gallery(vectors, vectors, labels, None, exclude_self=True)
    monkeypatch.setattr(retrieval, "QUERY_CHUNK", 2)
    chunked = rank_gallery(vectors, vectors, labels, None, exclude_self=True)
    assert np.array_equal(whole[0], chunked[0])


@pytest.mark.parametrize(
    ("queries", "gallery", "labels", "k", "exclude_self", "message"),
    [
        ([[1.0, 0.0]], [[1.0, 0.0, 0.0]], [0], 1, False, "dimensions differ"),
        ([[1.0, 0.0]], [[1.0, 0.0]], [0, 1], 1, False, "gallery_labels"),
        ([[1.0, 0.0]], [[1.0, 0.0]], [0], 2, False, "k must be between 1 and the 1"),
        ([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [0, 1], 2, True, "k must be between 1 and the 1"),
        ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0]], [0], 1, True, "first rows"),
        ([1.0, 0.0], [[1.0, 0.0]], [0], 1, False, "2-D"),
    ],
)
def test_rank_gallery_rejects_bad_input(
    queries: list[list[float]],
    gallery: list[list[float]],
    labels: list[int],
    k: int,
    exclude_self: bool,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        rank_gallery(queries, gallery, labels, k, exclude_self=exclude_self)


def test_relevant_counts() -> None:
    assert relevant_counts([1, 2, 9], [1, 1, 2, 3]).tolist() == [2, 1, 0]
    assert relevant_counts([1, 1, 2], [1, 1, 2, 3], exclude_self=True).tolist() == [1, 1, 0]


def test_evaluate_retrieval_on_separated_clusters_is_perfect() -> None:
    vectors = unit([[1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1]])
    metrics = evaluate_retrieval(vectors, [0, 0, 1, 1], vectors, [0, 0, 1, 1], ks=(1, 2), exclude_self=True)
    assert list(metrics) == ["recall@1", "recall@2", "precision@1", "precision@2", "map@r", "map", "ndcg@2"]
    # Each query's one other relevant item is its nearest neighbour, so only precision@2 falls short.
    assert metrics == pytest.approx({**dict.fromkeys(metrics, 1.0), "precision@2": 0.5})


def test_score_rankings_leaves_out_queries_with_nothing_relevant() -> None:
    # The second query's label is not in the gallery; the first is found at rank 1, so all scores are 1.
    metrics = score_rankings([[3, 4], [3, 4]], [3, 9], [1, 0], ks=(1,))
    assert metrics == pytest.approx(dict.fromkeys(metrics, 1.0))
    assert score_rankings([[3, 4]], [9], [0], ks=(1,)) == dict.fromkeys(metrics, 0.0)


def test_stratified_subset_spreads_over_classes() -> None:
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2]
    chosen = stratified_subset(labels, 5)
    assert chosen == sorted(chosen) == stratified_subset(labels, 5)
    assert sorted(labels[index] for index in chosen) == [0, 0, 1, 1, 2]
    assert stratified_subset(labels, 50) == list(range(9))


def test_cutoffs() -> None:
    assert cutoffs(10) == (1, 5, 10)
    assert cutoffs(3) == (1, 3)
    assert cutoffs(1) == (1,)


def test_build_task_on_the_grocery_layout(grocery_tree: Path) -> None:
    catalog = build_task(grocery_tree, "catalog", k=3)
    assert (len(catalog.queries), len(catalog.gallery), catalog.exclude_self) == (6, 3, False)
    shop = build_task(grocery_tree, "shop", limit=4, k=5)
    assert (len(shop.queries), len(shop.gallery), shop.query_split) == (4, 6, "test")
    assert len(set(shop.queries.labels)) == 3


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        ("nearest", {}, "task must be one of"),
        ("catalog", {"k": 4}, "k must be between 1 and the 3"),
        ("shop", {"queries": "train"}, "val or test"),
        ("catalog", {"limit": 0}, "limit"),
    ],
)
def test_build_task_rejects_bad_options(
    grocery_tree: Path, task: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_task(grocery_tree, task, **options)


def test_grocery_tasks_need_the_grocery_folder(class_folders: Path) -> None:
    with pytest.raises(ValueError, match="Grocery Store"):
        build_task(class_folders, "catalog")
    with pytest.raises(ValueError, match="--queries"):
        build_task(class_folders, "folder", queries="test", k=5)


def test_contact_sheet_has_a_row_per_query(tmp_path: Path) -> None:
    pictures = [write_picture(tmp_path / f"{index}.png", (90, 90, 90), index) for index in range(4)]
    sheet = tmp_path / "sheet.png"
    correct = np.array([[True, False, True], [False, False, True]])
    write_contact_sheet(sheet, pictures[:2], [pictures[1:], pictures[:3]], correct, k=3, rows=8)
    with Image.open(sheet) as image:
        assert image.size == sheet_size(2, 3)
    with pytest.raises(ValueError, match="correct must have shape"):
        write_contact_sheet(sheet, pictures[:2], [pictures[1:], pictures[:3]], correct[:1], k=3)


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

"""Measure an embedder on a retrieval task: python -m embedder.evaluate --model SPEC --data DIR.

Tasks: "catalog" ranks the Grocery Store's 81 iconic catalog images for each shop photo of a split,
"shop" ranks the train split's shop photos for each photo of another split, and "folder" ranks, for
each image of a class-per-folder tree, every other image of the tree.
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from embedder.contact_sheet import write_contact_sheet
from embedder.datasets import LabelledImages, grocery_iconic, grocery_split, image_folder, is_grocery_dataset
from embedder.embedding import Embedder
from embedder.errors import ModelLoadError
from embedder.registry import load_embedder
from embedder.retrieval import rank_gallery, relevant_counts, score_rankings

TASKS = ("catalog", "shop", "folder")
SHEET_RESULTS = 5
SHEET_ROWS = 8
# Paths embedded per step of the progress bar; the embedder batches within each step.
EMBED_STEP = 256


@dataclass(frozen=True)
class RetrievalTask:
    """Queries and the gallery they search; with exclude_self, query i is gallery item i."""

    name: str
    data: Path
    queries: LabelledImages
    gallery: LabelledImages
    exclude_self: bool
    query_split: str | None
    limit: int | None
    k: int  # the largest rank cut-off reported


class EvaluationReport(TypedDict):
    """What evaluate returns and writes as metrics.json."""

    model: str
    task: str
    data: str
    query_split: str | None
    limit: int | None
    queries: int
    gallery: int
    queries_without_relevant: int
    metrics: dict[str, float]
    embedding_seconds: float
    seconds: float
    contact_sheet: str | None


def default_task(data: Path) -> str:
    """ "catalog" for the Grocery Store's dataset/ folder, else "folder"."""
    return "catalog" if is_grocery_dataset(data) else "folder"


def evaluate(
    model_spec: str,
    data: Path,
    task: str,
    out: Path | None,
    *,
    queries: str | None = None,
    k: int = 10,
    limit: int | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    progress: bool = False,
) -> EvaluationReport:
    """Load a model by spec, evaluate it on the task, and write metrics.json and contact_sheet.png to out."""
    started = time.perf_counter()
    # Build the task first so that a bad data folder or k fails before the model loads.
    retrieval_task = build_task(data, task, queries=queries, limit=limit, k=k)
    embedder = load_embedder(model_spec, device=device)
    return run_task(embedder, retrieval_task, out, batch_size=batch_size, progress=progress, started=started)


def build_task(
    data: Path, task: str, *, queries: str | None = None, limit: int | None = None, k: int = 10
) -> RetrievalTask:
    """The queries and gallery of a task on a data folder, the queries cut to limit if given."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    split: str | None = None
    if task == "folder":
        if queries is not None:
            raise ValueError("--queries names a Grocery Store split; the folder task uses every image")
        query_images, gallery = _folder_images(data, limit)
    else:
        split = queries or "test"
        query_images, gallery = _grocery_images(data, task, split, limit)
    exclude_self = task == "folder"
    rankable = len(gallery) - 1 if exclude_self else len(gallery)
    if not 1 <= k <= rankable:
        raise ValueError(f"k must be between 1 and the {rankable} gallery items each query can find, got {k}")
    return RetrievalTask(task, data, query_images, gallery, exclude_self, split, limit, k)


def _folder_images(data: Path, limit: int | None) -> tuple[LabelledImages, LabelledImages]:
    """Queries and gallery of the folder task: the gallery is every image, the chosen queries first."""
    images = image_folder(data)
    chosen = stratified_subset(images.labels, limit) if limit else list(range(len(images)))
    # Queries first in the gallery, so that query i is gallery item i, as exclude_self expects.
    rest = sorted(set(range(len(images))) - set(chosen))
    return images.subset(chosen), images.subset(chosen + rest)


def _grocery_images(
    data: Path, task: str, split: str, limit: int | None
) -> tuple[LabelledImages, LabelledImages]:
    """Queries and gallery of the catalog and shop tasks on the Grocery Store data set."""
    if not is_grocery_dataset(data):
        raise ValueError(
            f"task {task!r} needs the Grocery Store dataset/ folder (with classes.csv), not {data}"
        )
    if task == "shop" and split == "train":
        raise ValueError("the shop task searches the train split, so its queries must come from val or test")
    shop_photos = grocery_split(data, split)
    if limit:
        shop_photos = shop_photos.subset(stratified_subset(shop_photos.labels, limit))
    gallery = grocery_iconic(data) if task == "catalog" else grocery_split(data, "train")
    return shop_photos, gallery


def cutoffs(k: int) -> tuple[int, ...]:
    """The recall and precision cut-offs reported for --k: 1, 5 and k, those that are at most k."""
    return tuple(sorted({cutoff for cutoff in (1, 5) if cutoff < k} | {k}))


def stratified_subset(labels: Sequence[int], limit: int, *, seed: int = 0) -> list[int]:
    """Indices of up to limit items, spread over the classes as evenly as possible; sorted, seeded."""
    generator = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    classes = sorted(by_class)
    # Shuffled within each class because neighbouring photos are often near-duplicate shots.
    queues = [list(generator.permutation(by_class[classes[i]])) for i in generator.permutation(len(classes))]
    chosen: list[int] = []
    for depth in range(max(map(len, queues), default=0)):
        for queue in queues:
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(int(queue[depth]))
    return sorted(chosen)


def run_task(
    embedder: Embedder,
    task: RetrievalTask,
    out: Path | None,
    *,
    batch_size: int = 32,
    progress: bool = False,
    started: float | None = None,
) -> EvaluationReport:
    """Embed, rank and score a task; write the report and contact sheet when out is given.

    The report's seconds count from started, a time.perf_counter() reading, or else from the call.
    """
    started = time.perf_counter() if started is None else started
    embedding_started = time.perf_counter()
    gallery_vectors = _embed(embedder, task.gallery.paths, batch_size, progress, "gallery")
    if task.exclude_self:
        query_vectors = gallery_vectors[: len(task.queries)]
    else:
        query_vectors = _embed(embedder, task.queries.paths, batch_size, progress, "queries")
    embedding_seconds = time.perf_counter() - embedding_started
    query_labels = np.asarray(task.queries.labels)
    gallery_labels = np.asarray(task.gallery.labels)
    ranked_indices, ranked_labels = rank_gallery(
        query_vectors, gallery_vectors, gallery_labels, None, exclude_self=task.exclude_self
    )
    counts = relevant_counts(query_labels, gallery_labels, exclude_self=task.exclude_self)
    metrics = score_rankings(ranked_labels, query_labels, counts, cutoffs(task.k))
    sheet: Path | None = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        sheet = out / "contact_sheet.png"
        correct = ranked_labels == query_labels[:, None]
        _draw_sheet(sheet, task, ranked_indices, correct, min(SHEET_RESULTS, task.k))
    report = EvaluationReport(
        model=embedder.info.key,
        task=task.name,
        data=str(task.data),
        query_split=task.query_split,
        limit=task.limit,
        queries=len(task.queries),
        gallery=len(task.gallery),
        queries_without_relevant=int((counts == 0).sum()),
        metrics={name: round(value, 6) for name, value in metrics.items()},
        embedding_seconds=round(embedding_seconds, 2),
        seconds=round(time.perf_counter() - started, 2),
        contact_sheet=None if sheet is None else str(sheet),
    )
    if out is not None:
        (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _embed(
    embedder: Embedder, paths: Sequence[Path], batch_size: int, progress: bool, what: str
) -> npt.NDArray[np.float32]:
    """Embed image files, with a progress bar on stderr when asked."""
    vectors = np.empty((len(paths), embedder.info.dimension), dtype=np.float32)
    with tqdm(total=len(paths), desc=f"embedding {what}", unit="img", disable=not progress) as bar:
        for start in range(0, len(paths), EMBED_STEP):
            step = paths[start : start + EMBED_STEP]
            vectors[start : start + len(step)] = embedder.embed_paths(step, batch_size=batch_size)
            bar.update(len(step))
    return vectors


def _draw_sheet(
    path: Path,
    task: RetrievalTask,
    ranked_indices: npt.NDArray[np.int64],
    correct: npt.NDArray[np.bool_],
    k: int,
) -> None:
    """Contact sheet of queries spread evenly over the query list (which runs class by class)."""
    rows = np.unique(
        np.linspace(0, len(task.queries) - 1, min(SHEET_ROWS, len(task.queries))).round().astype(int)
    )
    names = task.gallery.class_names
    write_contact_sheet(
        path,
        [task.queries.paths[row] for row in rows],
        [[task.gallery.paths[index] for index in ranked_indices[row, :k]] for row in rows],
        correct[rows, :k],
        k=k,
        rows=len(rows),
        query_captions=[names[task.queries.labels[row]] for row in rows],
        result_captions=[
            [names[task.gallery.labels[index]] for index in ranked_indices[row, :k]] for row in rows
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; prints the report as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m embedder.evaluate", description="Measure an embedder on a retrieval task."
    )
    parser.add_argument(
        "--model", default="efficientnet_lite0", help="model name, NAME:weights.pth or checkpoint"
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="Grocery Store dataset/ folder or class folders"
    )
    parser.add_argument("--task", choices=TASKS, help="default: catalog for the Grocery Store, else folder")
    parser.add_argument(
        "--queries", choices=("train", "val", "test"), help="Grocery Store query split (test)"
    )
    parser.add_argument("--out", type=Path, help="folder for metrics.json and contact_sheet.png")
    parser.add_argument("--k", type=int, default=10, help="largest rank cut-off reported (10)")
    parser.add_argument("--limit", type=int, help="evaluate a class-stratified subset of this many queries")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    arguments = parser.parse_args(argv)
    try:
        report = evaluate(
            arguments.model,
            arguments.data,
            arguments.task or default_task(arguments.data),
            arguments.out,
            queries=arguments.queries,
            k=arguments.k,
            limit=arguments.limit,
            device=arguments.device,
            batch_size=arguments.batch_size,
            progress=sys.stderr.isatty(),
        )
    except (ValueError, ModelLoadError) as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

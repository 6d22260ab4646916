"""Measure an embedder on a retrieval task: `vitrine evaluate --model SPEC --data DIR`.

Writes metrics.json and a contact sheet; the tasks are described in embedder.evaluation.tasks.
"""

import argparse
import json
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from embedder.embedding import Embedder
from embedder.errors import ModelLoadError
from embedder.evaluation.contact_sheet import write_contact_sheet
from embedder.evaluation.retrieval import rank_gallery, relevant_counts, score_rankings
from embedder.evaluation.tasks import TASKS, RetrievalTask, build_task, default_task
from embedder.progress import progress_bar
from embedder.registry import load_embedder

SHEET_RESULTS = 5
SHEET_ROWS = 8
# Paths embedded per step of the progress bar; the embedder batches within each step.
EMBED_STEP = 256


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


@dataclass(frozen=True)
class Measurement:
    """A task's rankings and their scores: what the report and the contact sheet are made of."""

    metrics: dict[str, float]
    ranked_indices: npt.NDArray[np.int64]  # (queries, rankable gallery items), most similar first
    ranked_labels: npt.NDArray[Any]
    relevant_counts: npt.NDArray[np.int64]  # R per query
    embedding_seconds: float


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
    flip: bool = False,
    multi_crop: bool = False,
) -> EvaluationReport:
    """Load a model by spec, evaluate it on the task, and write metrics.json and contact_sheet.png to out."""
    started = time.perf_counter()
    # Build the task first so that a bad data folder or k fails before the model loads.
    retrieval_task = build_task(data, task, queries=queries, limit=limit, k=k)
    embedder = load_embedder(model_spec, device=device)
    embedder.flip_average = flip
    embedder.multi_crop = multi_crop
    return run_task(embedder, retrieval_task, out, batch_size=batch_size, progress=progress, started=started)


def cutoffs(k: int) -> tuple[int, ...]:
    """The recall and precision cut-offs reported for --k: 1, 5 and k, those that are at most k."""
    return tuple(sorted({cutoff for cutoff in (1, 5) if cutoff < k} | {k}))


def measure(
    embedder: Embedder, task: RetrievalTask, *, batch_size: int = 32, progress: bool = False
) -> Measurement:
    """Embed a task's images, rank the gallery for each query and score the rankings at cutoffs(task.k)."""
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
    return Measurement(metrics, ranked_indices, ranked_labels, counts, embedding_seconds)


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
    measured = measure(embedder, task, batch_size=batch_size, progress=progress)
    sheet: Path | None = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        sheet = out / "contact_sheet.png"
        correct = measured.ranked_labels == np.asarray(task.queries.labels)[:, None]
        _draw_sheet(sheet, task, measured.ranked_indices, correct, min(SHEET_RESULTS, task.k))
    report = EvaluationReport(
        model=embedder.info.key,
        task=task.name,
        data=str(task.data),
        query_split=task.query_split,
        limit=task.limit,
        queries=len(task.queries),
        gallery=len(task.gallery),
        queries_without_relevant=int((measured.relevant_counts == 0).sum()),
        metrics={name: round(value, 6) for name, value in measured.metrics.items()},
        embedding_seconds=round(measured.embedding_seconds, 2),
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
    bar = progress_bar(total=len(paths), desc=f"embedding {what}", unit="img") if progress else None
    with bar or nullcontext():
        for start in range(0, len(paths), EMBED_STEP):
            step = paths[start : start + EMBED_STEP]
            vectors[start : start + len(step)] = embedder.embed_paths(step, batch_size=batch_size)
            if bar is not None:
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
        prog="vitrine evaluate",
        description="Measure an embedder on a retrieval task (also `python -m embedder.evaluation`).",
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
    parser.add_argument("--device", default="auto", help="auto: a CUDA GPU where there is one, else the CPU")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--flip", action="store_true", help="average each image's vector with its mirror image's (test time)"
    )
    parser.add_argument(
        "--multi-crop", action="store_true", help="average in the vectors of each image's four corners too"
    )
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
            flip=arguments.flip,
            multi_crop=arguments.multi_crop,
            progress=True,  # a bar on a terminal, a line every 15 s in a log
        )
    except (ValueError, ModelLoadError) as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps(report, indent=2))
    return 0

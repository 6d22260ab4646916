"""Retrieval quality on the Grocery Store test split, split into held-out and trained products.

For a model trained with `vitrine train --from-catalog` on a Grocery Store catalog (SKUs GS-<class
id>, as `vitrine grocery-catalog` writes them), its split.json says which products training never
saw. This prints Recall@1 and Recall@5 of the test-split queries of those products and of the
others, for each model (the first is the baseline), from one ranking per model.

Run: .venv/bin/python benchmarks/held_out_quality.py --split var/.../split.json \
        --model efficientnet_lite0 --model var/.../best.pt [--task catalog] [--limit 405]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from embedder.evaluation.evaluate import measure
from embedder.evaluation.tasks import build_task
from embedder.registry import load_embedder

DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "grocery-store" / "dataset"


def held_out_classes(split_file: Path) -> set[int]:
    """Grocery class ids of the held-out products (SKU GS-<class id>)."""
    split = json.loads(split_file.read_text(encoding="utf-8"))
    return {int(sku.removeprefix("GS-")) for sku in split["validation_skus"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=Path, required=True, help="split.json of a --from-catalog run")
    parser.add_argument("--model", action="append", required=True, help="repeat; the first is the baseline")
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--task", choices=("catalog", "shop"), default="catalog")
    parser.add_argument("--limit", type=int, default=405, help="class-stratified subset of test queries")
    arguments = parser.parse_args()
    held_out = held_out_classes(arguments.split)
    task = build_task(arguments.data, arguments.task, limit=arguments.limit, k=10)
    labels = np.asarray(task.queries.labels)
    groups = {"held-out": np.isin(labels, sorted(held_out)), "trained": ~np.isin(labels, sorted(held_out))}
    print(
        f"load {os.getloadavg()[0]:.1f}; {arguments.task} task, {len(labels)} test queries: "
        + ", ".join(f"{name} products {int(mask.sum())}" for name, mask in groups.items())
    )
    for spec in arguments.model:
        ranked = measure(load_embedder(spec), task, batch_size=16).ranked_labels
        hits = {k: (ranked[:, :k] == labels[:, None]).any(axis=1) for k in (1, 5)}
        row: dict[str, object] = {"model": spec}
        for name, mask in groups.items():
            row |= {f"{name} recall@{k}": round(float(hit[mask].mean()), 3) for k, hit in hits.items()}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

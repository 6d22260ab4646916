"""Retrieval quality of off-the-shelf and fine-tuned models on the Grocery Store data set.

Two tasks, both with test-split shop photos as queries (never seen in training):
(a) catalog: find the product's one catalog ("iconic") image among the 81;
(b) shop: find shop photos of the same product in the train split.
Prints Recall@1/5/10 and mAP for each model side by side with the first (the baseline,
EfficientNet-Lite0 off the shelf) and the difference, and the embedding time per image (decode
included; the same machine and load for every model of one run).
With --flip, every model is also measured with test-time flip averaging (row "<model> +flip"),
with --multi-crop with its four corner crops averaged in (row "<model> +crops").

Run: .venv/bin/python benchmarks/retrieval_quality.py --model efficientnet_lite0 \
        --model var/train/lite0-supervised/best.pt ... [--limit 810] [--out var/quality]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from embedder.evaluation.evaluate import evaluate

DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "grocery-store" / "dataset"
COLUMNS = ("recall@1", "recall@5", "recall@10", "map")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="repeat; the first is the baseline")
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--limit", type=int, default=None, help="class-stratified subset of test queries")
    parser.add_argument("--out", type=Path, default=Path("var/quality"))
    parser.add_argument("--task", action="append", choices=("catalog", "shop"), help="default: both")
    parser.add_argument("--flip", action="store_true", help="also measure each model with flip averaging")
    parser.add_argument("--multi-crop", action="store_true", help="also measure each with corner crops")
    arguments = parser.parse_args()
    arguments.task = arguments.task or ["catalog", "shop"]
    print(
        f"load {os.getloadavg()[0]:.1f}; queries: test split"
        + (f", {arguments.limit} stratified" if arguments.limit else "")
    )
    rows: dict[str, dict[str, dict[str, float]]] = {}
    choices = ["", *(["flip"] if arguments.flip else []), *(["crops"] if arguments.multi_crop else [])]
    variants = [(spec, choice) for spec in arguments.model for choice in choices]
    # Task by task, so the cheap catalog task is complete for every model first.
    for task in arguments.task:
        for spec, choice in variants:
            name = spec + (f" +{choice}" if choice else "")
            folder = Path(spec).parent.name if "/" in spec else spec
            out = arguments.out / (folder + (f"-{choice}" if choice else "")) / task
            report = evaluate(
                spec,
                arguments.data,
                task,
                out,
                limit=arguments.limit,
                batch_size=16,
                flip=choice == "flip",
                multi_crop=choice == "crops",
            )
            images = report["queries"] + report["gallery"]
            ms_per_image = 1000 * report["embedding_seconds"] / images
            rows.setdefault(name, {})[task] = {**report["metrics"], "ms/image": ms_per_image}
            summary = {"model": name, "task": task, "seconds": round(report["seconds"], 1)}
            print(json.dumps({**summary, "ms/image": round(ms_per_image, 1), **report["metrics"]}))
    baseline = arguments.model[0]
    for task in arguments.task:
        print(f"\n{task}: " + "  ".join(f"{column:>18}" for column in COLUMNS) + "   ms/image")
        for spec, results in rows.items():
            cells = []
            for column in COLUMNS:
                value = results[task][column]
                delta = value - rows[baseline][task][column]
                cells.append(f"{value:>8.3f}" + (f" ({delta:+.3f})" if spec != baseline else " " * 9))
            print(f"{spec[-40:]:>40}  " + "  ".join(cells) + f"   {results[task]['ms/image']:8.1f}")


if __name__ == "__main__":
    main()

"""training.png: a run's loss and validation Recall@1 per epoch."""

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plot_history(history: list[dict[str, Any]], path: Path) -> None:
    """Training loss and validation Recall@1 per epoch, as a PNG."""
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    loss_axes, recall_axes = figure.subplots(1, 2)
    trained = [entry for entry in history if entry.get("loss") is not None]
    loss_axes.plot([entry["epoch"] for entry in trained], [entry["loss"] for entry in trained], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    validated = [entry for entry in history if "recall@1" in entry]
    recall_axes.plot(
        [entry["epoch"] for entry in validated], [entry["recall@1"] for entry in validated], marker="o"
    )
    recall_axes.set(title="validation Recall@1", xlabel="epoch (0: before training)", ylim=(0, 1))
    for axes in (loss_axes, recall_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    figure.savefig(path, dpi=100)

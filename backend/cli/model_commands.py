"""`vitrine evaluate`, `train`, `quantize` and `grocery-catalog`: models and the data they learn from.

The first three hand their arguments to the embedder's own command lines (which own their
options and help); `train --from-catalog` is the backend's, as it reads the catalog database.
"""

from __future__ import annotations

from pathlib import Path

import click

PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(context_settings=PASS_THROUGH)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def evaluate(arguments: tuple[str, ...]) -> None:
    """Measure retrieval quality of a model (Recall@K, mAP, NDCG); see `vitrine evaluate --help`."""
    from embedder.evaluation.evaluate import main as evaluate_main

    raise SystemExit(evaluate_main(list(arguments)))


@click.command(context_settings=PASS_THROUGH)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def quantize(arguments: tuple[str, ...]) -> None:
    """Write a model's int8 variant for the CPU, calibrated on photos; see `vitrine quantize --help`."""
    from embedder.quantization import main as quantize_main

    quantize_main(list(arguments))


@click.command(context_settings=PASS_THROUGH)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def reduce(arguments: tuple[str, ...]) -> None:
    """Write a model with smaller vectors (a PCA head fitted on photos); see `vitrine reduce --help`."""
    from embedder.pca_head import main as reduce_main

    reduce_main(list(arguments))


@click.command(context_settings=PASS_THROUGH)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def train(arguments: tuple[str, ...]) -> None:
    """Fine-tune a model on a catalog's photos (supervised or contrastive); see `vitrine train --help`.

    With --from-catalog, on the catalog database's products (`vitrine train --from-catalog --help`).
    """
    if "--from-catalog" in arguments:
        from backend.cli.training import train_from_catalog

        train_from_catalog(arguments)
        return
    from embedder.training.main import main as train_main

    train_main(list(arguments))


@click.command(name="grocery-catalog")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--shop-photos", type=int, default=3, show_default=True, help="Train photos per product.")
def grocery_catalog(dataset: Path, output: Path, shop_photos: int) -> None:
    """Write a catalog file from the Grocery Store data set's `dataset/` folder."""
    from backend.demo.grocery_catalog import write_grocery_catalog

    path = write_grocery_catalog(dataset, output, shop_photos=shop_photos)
    click.echo(f"wrote {path}; import it with --images {dataset}")

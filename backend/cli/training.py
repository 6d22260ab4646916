"""`vitrine train --from-catalog`: fine-tune on the catalog database's own products and photos.

The catalog (the database `vitrine sync` reads, from the same settings) is exported as two
class-per-folder trees of symlinks into the image store, split by product
(backend/catalog/training_export.py), under <data dir>/training-data/<run name>/. The embedder's
training then runs on them with held-out validation: photos of the held-out products are ranked
against each other, never against training photos. The embedder never imports the backend; it
only sees the two folders.

By default the run is written to <models dir>/catalog-<UTC time>/, so that both
`vitrine sync --model <that folder>/best.pt` and `POST /admin/sync {"model": "catalog-.../best.pt"}`
can switch search to it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from backend.settings import Settings

# Options the export sets itself; a user giving them would train on something else.
EXPORT_OPTIONS = ("--data", "--val-data", "--val-mode")


def catalog_parser() -> argparse.ArgumentParser:
    """The options --from-catalog adds; every other option goes to the embedder's training."""
    parser = argparse.ArgumentParser(
        prog="vitrine train --from-catalog",
        description=(
            "Train on the catalog database's products: photos of one product are positives of each "
            "other; a share of the products is held out for validation. Other options as `vitrine train`."
        ),
        allow_abbrev=False,  # a prefix such as --val must not be taken for --val-fraction
    )
    parser.add_argument("--from-catalog", action="store_true")
    parser.add_argument(
        "--label-field",
        default="product",
        help="product (default), category, brand or attr.<name>: the label photos are grouped by",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of products held out for validation (only products with 2+ photos; 0: none)",
    )
    parser.add_argument("--out", type=Path, help="run folder (default: <models dir>/catalog-<UTC time>)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split and the training")
    return parser


def train_from_catalog(arguments: Sequence[str], settings: Settings | None = None) -> Path:
    """Export the catalog, train on it, record the split; returns best.pt's path."""
    from backend.catalog.database import (
        create_database_engine,
        create_session_factory,
        require_current_schema,
    )
    from backend.catalog.training_export import (
        catalog_photos,
        check_label_field,
        split_by_product,
        write_class_tree,
    )
    from embedder.training.config import parse_args
    from embedder.training.main import train

    parser = catalog_parser()
    options, rest = parser.parse_known_args(list(arguments))
    given = [option for option in rest if option.split("=", 1)[0] in EXPORT_OPTIONS]
    if given:
        parser.error(f"it sets {', '.join(EXPORT_OPTIONS)} itself: drop {given[0]}")
    try:
        check_label_field(options.label_field)
    except ValueError as error:
        parser.error(str(error))
    settings = settings or Settings.from_env()
    out: Path = options.out or settings.model_folder / f"catalog-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    engine = create_database_engine(settings.database_url)
    try:
        require_current_schema(engine)
        with create_session_factory(engine)() as session:
            photos, skipped = catalog_photos(session, settings.image_dir, options.label_field)
    finally:
        engine.dispose()
    try:
        split = split_by_product(photos, options.val_fraction, options.seed)
    except ValueError as error:
        raise SystemExit(f"vitrine train --from-catalog: {error}") from None
    export = settings.data_dir / "training-data" / out.name
    training_arguments = [*rest, "--data", str(write_class_tree(split.train, export / "train"))]
    training_arguments += ["--out", str(out), "--seed", str(options.seed)]
    if split.validation:
        validation = write_class_tree(split.validation, export / "val")
        training_arguments += ["--val-data", str(validation), "--val-mode", "held-out"]
    config = parse_args(training_arguments)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "label_field": options.label_field,
        "val_fraction": options.val_fraction,
        "seed": options.seed,
        "skipped_photos": skipped,  # no label, or no file in the image store
        "export": str(export),
        **split.summary(),
    }
    (out / "split.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(
        f"catalog: {record['train_products']} products ({record['train_photos']} photos) to train on, "
        f"{record['validation_products']} held out ({record['validation_photos']} photos); "
        f"the split is in {out / 'split.json'}"
    )
    best = train(config)
    print(f"best checkpoint: {best}")
    print(f"switch search to it: vitrine sync --model {best}")
    if best.resolve().is_relative_to(settings.model_folder.resolve()):
        name = best.resolve().relative_to(settings.model_folder.resolve())
        print(f'or over HTTP: POST /admin/sync {{"model": "{name}"}}')
    else:
        print(f"POST /admin/sync can name it once it is under the models folder {settings.model_folder}")
    return best

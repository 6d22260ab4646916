"""The `vitrine` command: migrate, import, sync, search, serve, demo."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backend.cli.model_commands import evaluate, grocery_catalog, quantize, reduce, train
from backend.cli.output import print_matches, print_progress, redact, section
from backend.cli.serving import (
    DEFAULT_QUEUE_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    QUEUE_TIMEOUT_ENV,
    REQUEST_TIMEOUT_ENV,
    run_gunicorn,
)
from backend.errors import VitrineError
from backend.settings import Settings

# The heavy parts (torch, SQLAlchemy, Qdrant's client) are imported inside the commands that use
# them, so that `vitrine --help`, a usage error or `vitrine serve` answer at once.
if TYPE_CHECKING:
    from backend.filters.search_filter import SearchFilter
    from backend.wiring import Services


@contextmanager
def opened_services(model: str | None = None) -> Iterator[Services]:
    """Services from the environment; domain errors end the command with their message."""
    from backend.wiring import build_services

    settings = Settings.from_env()
    if model:
        settings = settings.with_overrides(model=model)
    services = build_services(settings)
    try:
        yield services
    except VitrineError as error:
        raise click.ClickException(error.message) from error
    finally:
        services.close()


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filter flags shared by the search commands."""
    options = [
        click.option("--category", multiple=True, help="Keep these categories (repeatable)."),
        click.option("--brand", multiple=True, help="Keep these brands (repeatable)."),
        click.option("--price-min", type=Decimal, default=None),
        click.option("--price-max", type=Decimal, default=None),
        click.option("--in-stock/--any-stock", default=None, help="Only products in stock."),
        click.option("--limit", type=int, default=5, show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_filter(options: dict[str, Any]) -> SearchFilter:
    """A filter from the shared flags, checked as the API checks its filter fields."""
    from backend.filters.search_filter import parse_filters

    values: dict[str, list[Any]] = {
        "category": list(options["category"]),
        "brand": list(options["brand"]),
        "price_min": [options["price_min"]] if options["price_min"] is not None else [],
        "price_max": [options["price_max"]] if options["price_max"] is not None else [],
        "in_stock": [options["in_stock"]] if options["in_stock"] is not None else [],
    }
    try:
        return parse_filters({name: given for name, given in values.items() if given})
    except VitrineError as error:  # the API's 400: a usage error here, before anything is loaded
        raise click.UsageError(error.message) from None


@click.group()
def main() -> None:
    """Vitrine: visual product search. Settings come from the environment (see README)."""


@main.command()
def migrate() -> None:
    """Create or upgrade the catalog schema (Alembic, to head)."""
    from backend.catalog.database import upgrade_schema

    settings = Settings.from_env()
    upgrade_schema(settings.database_url)
    click.echo(f"schema up to date: {redact(settings.database_url)}")


@main.command(name="import")
@click.argument("catalog_file", type=click.Path(path_type=Path))
@click.option(
    "--images",
    "images_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder that image paths are relative to (default: the file's folder).",
)
def import_command(catalog_file: Path, images_dir: Path | None) -> None:
    """Import products from a .jsonl or .csv file; all rows or none."""
    from backend.catalog.database import require_current_schema
    from backend.catalog.file_import import ImportFailed

    with opened_services() as services:
        require_current_schema(services.engine)
        try:
            report = services.catalog.import_file(catalog_file, images_dir)
        except ImportFailed as failure:
            for problem in failure.problems:
                click.echo(f"{catalog_file}:{problem.line}: {problem.message}", err=True)
            raise
        click.echo(
            f"imported {catalog_file}: {report.created} created, {report.updated} updated, "
            f"{report.images_added} images added"
        )


@main.command()
@click.option("--model", default=None, help="Model name, `arch:weights.pth` or checkpoint path.")
@click.option("--check", is_flag=True, help="Only report drift between catalog and index; exit 1 if any.")
@click.option(
    "--repair", is_flag=True, help="Fix any drift (the same as a plain sync, which always repairs)."
)
@click.option(
    "--activate/--no-activate",
    default=True,
    help="Switch search to the model's collection once it is complete (default) or only build it.",
)
def sync(model: str | None, check: bool, repair: bool, activate: bool) -> None:
    """Embed new images and bring the vector index in line with the catalog.

    With --model, build (or update) that model's collection beside the live one; search
    keeps using the live one until the new one is complete, then switches in one step.
    """
    if check and repair:
        raise click.UsageError("--check and --repair exclude each other")
    from backend.catalog.database import require_current_schema

    with opened_services() as services:
        require_current_schema(services.engine)
        if check:
            drift = services.sync.check(model).report()
            click.echo(json.dumps(drift, indent=2))
            if not drift["in_sync"]:
                raise SystemExit(1)
            return
        report = services.sync.run(progress=print_progress, model_spec=model, activate=activate)
        click.echo(json.dumps(report.to_dict(), indent=2))


@main.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@filter_options
def search(image: Path, **options: Any) -> None:
    """Search products by a photo."""
    search_filter = build_filter(options)  # a usage error before the heavy imports
    from backend.search.service import Page

    with opened_services() as services:
        picture = services.images.decode(image.read_bytes(), name=str(image))
        matches = services.search.search_by_image(picture, search_filter, Page(limit=options["limit"]))
        print_matches(matches)


@main.command()
@click.argument("product_id", type=int)
@filter_options
def similar(product_id: int, **options: Any) -> None:
    """Products that look like a given product."""
    search_filter = build_filter(options)  # a usage error before the heavy imports
    from backend.search.service import Page

    with opened_services() as services:
        matches = services.search.similar_products(product_id, search_filter, Page(limit=options["limit"]))
        print_matches(matches)


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", type=int, default=None, help="Default: 1 embedded, 2 with a server.")
@click.option("--threads", type=int, default=4, show_default=True)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_REQUEST_TIMEOUT_S,
    show_default=True,
    help="Seconds a client may take to send a whole request (then 408).",
)
@click.option(
    "--queue-timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_QUEUE_TIMEOUT_S,
    show_default=True,
    help="Seconds a request may wait for a free thread (then 503 with Retry-After).",
)
def serve(bind: str, workers: int | None, threads: int, request_timeout: float, queue_timeout: float) -> None:
    """Serve the HTTP API with gunicorn.

    Each request is read whole before a thread takes it, so slow clients cannot hold the
    threads. With the embedded engine and more than one worker, a store process owns the
    engine's folder and the workers call it over a socket (docs/architecture.md).
    """
    settings = Settings.from_env()
    embedded = not settings.qdrant_url
    if workers is None:
        workers = 1 if embedded else 2
    os.environ[REQUEST_TIMEOUT_ENV] = str(request_timeout)
    os.environ[QUEUE_TIMEOUT_ENV] = str(queue_timeout)
    # A connection per thread, and some for the sync's thread and the health check.
    os.environ.setdefault("VITRINE_DATABASE_CONNECTIONS", str(max(10, threads + 4)))
    raise SystemExit(run_gunicorn(bind, workers, threads, store_process=embedded and workers != 1))


@main.command(name="sample-catalog")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def sample_catalog(folder: Path) -> None:
    """Write the generated sample catalog (images + catalog.jsonl) into a folder."""
    from backend.demo.sample_catalog import write_sample_catalog

    path = write_sample_catalog(folder)
    click.echo(f"wrote {path} (images in {folder / 'images'})")


@main.command()
def demo() -> None:
    """Set up the embedded default, load the sample catalog and run a few searches."""
    from backend.catalog.database import upgrade_schema
    from backend.demo.sample_catalog import write_query_photo, write_sample_catalog
    from backend.filters.search_filter import SearchFilter
    from backend.search.service import Page

    settings = Settings.from_env()
    sample = settings.data_dir / "sample-catalog"
    catalog_file = write_sample_catalog(sample)
    upgrade_schema(settings.database_url)
    click.echo(f"catalog database: {redact(settings.database_url)}")
    click.echo(f"vector store: {settings.vector_store_location}")
    with opened_services() as services:
        report = services.catalog.import_file(catalog_file, sample / "images")
        click.echo(f"imported {report.created} new / {report.updated} existing products")
        sync_report = services.sync.run()
        click.echo(
            f"sync into {sync_report.collection}: {sync_report.embedded} embedded, "
            f"{sync_report.payload_updated} payloads updated, {sync_report.unchanged} unchanged"
        )
        query = write_query_photo(sample, "STA-RED")
        picture = services.images.decode(query.read_bytes(), name=str(query))
        run = services.search
        section(f"search by photo {query.name} (a red star shot in a shop)")
        print_matches(run.search_by_image(picture, SearchFilter(), Page(limit=5)))
        section("same photo, category filter: only circles")
        print_matches(run.search_by_image(picture, SearchFilter(categories=("circle",)), Page(limit=5)))
        section("same photo, price between 10 and 25, in stock")
        price_filter = SearchFilter(price_min=Decimal(10), price_max=Decimal(25), in_stock=True)
        print_matches(run.search_by_image(picture, price_filter, Page(limit=5)))
        first = run.search_by_image(picture, SearchFilter(), Page(limit=1)).matches[0].product
        section(f"products similar to product {first.id} ({first.sku})")
        print_matches(run.similar_products(first.id, SearchFilter(), Page(limit=5)))
    click.echo(
        f"\nnext: serve it with `vitrine serve` (the command is in the venv: `. .venv/bin/activate`),"
        f" then open http://127.0.0.1:8000/ or search with the photo {query}"
    )


# Commands about models and their data, kept in their own module.
for _command in (evaluate, grocery_catalog, quantize, reduce, train):
    main.add_command(_command)

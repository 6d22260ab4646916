"""A generated sample catalog, so the demo needs no data set: coloured shapes as products."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {
    "red": (200, 40, 40),
    "green": (40, 150, 60),
    "blue": (40, 70, 190),
    "yellow": (230, 200, 40),
    "purple": (130, 50, 160),
    "orange": (235, 130, 30),
}
BRANDS = ("Acme", "Globex", "Initech")
SIZE = 256


@dataclass(frozen=True)
class SampleProduct:
    sku: str
    shape: str
    colour: str


def sample_products() -> list[SampleProduct]:
    """Every shape in every colour: 24 products."""
    return [
        SampleProduct(f"{shape[:3].upper()}-{colour[:3].upper()}", shape, colour)
        for shape in SHAPES
        for colour in COLOURS
    ]


def draw_product(product: SampleProduct, *, variant: int) -> Image.Image:
    """A photo of the product: variant 0 is the clean catalog shot, others are shop photos."""
    rng = random.Random(f"{product.sku}-{variant}")
    background = (255, 255, 255) if variant == 0 else tuple(rng.randint(150, 235) for _ in range(3))
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    if variant:
        for _ in range(12):  # shelf clutter
            x, y = rng.randint(0, SIZE), rng.randint(0, SIZE)
            shade = tuple(rng.randint(120, 250) for _ in range(3))
            draw.rectangle([x, y, x + rng.randint(10, 60), y + rng.randint(5, 20)], fill=shade)
    scale = 1.0 if variant == 0 else rng.uniform(0.7, 1.0)
    centre = (
        (SIZE / 2, SIZE / 2)
        if variant == 0
        else (SIZE / 2 + rng.randint(-25, 25), SIZE / 2 + rng.randint(-25, 25))
    )
    radius = 80 * scale
    colour = COLOURS[product.colour]
    _draw_shape(draw, product.shape, centre, radius, colour)
    if variant:
        image = image.rotate(rng.uniform(-25, 25), fillcolor=background)
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    return image


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    centre: tuple[float, float],
    radius: float,
    colour: tuple[int, int, int],
) -> None:
    x, y = centre
    if shape == "circle":
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    elif shape == "square":
        side = radius * 0.85
        draw.rectangle([x - side, y - side, x + side, y + side], fill=colour)
    elif shape == "triangle":
        draw.polygon(
            [(x, y - radius), (x - radius, y + radius * 0.8), (x + radius, y + radius * 0.8)],
            fill=colour,
        )
    else:
        draw.regular_polygon((x, y, radius), n_sides=5, fill=colour)
        draw.regular_polygon((x, y, radius), n_sides=5, rotation=36, fill=colour)


def write_sample_catalog(folder: Path, *, photos_per_product: int = 2) -> Path:
    """Write images and catalog.jsonl into the folder; returns the catalog file's path."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, product in enumerate(sample_products()):
        names = []
        for variant in range(photos_per_product):
            name = f"{product.sku.lower()}-{variant}.jpg"
            draw_product(product, variant=variant).save(images / name, quality=90)
            names.append(name)
        lines.append(
            {
                "sku": product.sku,
                "name": f"{product.colour.title()} {product.shape} print",
                "description": f"A {product.colour} {product.shape} on heavy paper.",
                "category": product.shape,
                "brand": BRANDS[index % len(BRANDS)],
                "price": round(5 + (index * 7 % 40) + 0.99, 2),
                "currency": "EUR",
                "in_stock": index % 5 != 0,
                "attributes": {"colour": product.colour},
                "images": names,
            }
        )
    catalog = folder / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return catalog


def write_query_photo(folder: Path, sku: str) -> Path:
    """A held-out shop photo of one sample product (a shopper's upload)."""
    product = next(p for p in sample_products() if p.sku == sku)
    path = folder / f"query-{sku.lower()}.jpg"
    draw_product(product, variant=99).save(path, quality=85)
    return path

"""Tests for embedder.images: every kind of input becomes a loaded RGB image, or a clear error."""

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from embedder import DEFAULT_MAX_PIXELS, ImageLoadError, ImageTooLargeError, RegionTooSmallError, load_image
from embedder.images import probe, to_rgb

WHITE = (255, 255, 255)
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """Encode an image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims another size: decoding it would fail, reading the header not."""
    data = bytearray(encode(Image.new("RGB", (1, 1))))
    # Bytes 16..24 are IHDR's width and height; its CRC (bytes 29..33) covers bytes 12..29.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    """One pixel as a tuple of ints."""
    return tuple(int(value) for value in np.asarray(image)[y, x])


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; display rotated 90 degrees clockwise
    loaded = load_image(encode(image, "JPEG", exif=exif, quality=95))
    assert loaded.size == (20, 40)
    assert np.allclose(pixel(loaded, 10, 5), RED, atol=30)
    assert np.allclose(pixel(loaded, 10, 35), BLUE, atol=30)


def test_image_without_orientation_keeps_its_shape() -> None:
    loaded = load_image(encode(Image.new("RGB", (40, 20), RED), "JPEG"))
    assert loaded.size == (40, 20)


def test_palette_with_transparency_is_composited_on_white() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([*RED, *BLUE])
    image.putpixel((1, 0), 1)
    loaded = load_image(encode(image, transparency=1))
    assert loaded.mode == "RGB"
    assert pixel(loaded, 0, 0) == RED
    assert pixel(loaded, 1, 0) == WHITE


def test_palette_gif_without_transparency() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([*RED, *BLUE])
    image.putpixel((1, 0), 1)
    loaded = load_image(encode(image, "GIF"))
    assert (pixel(loaded, 0, 0), pixel(loaded, 1, 0)) == (RED, BLUE)


def test_rgba_is_composited_on_white() -> None:
    image = Image.new("RGBA", (3, 1))
    image.putdata([(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128)])
    loaded = load_image(encode(image))
    assert loaded.mode == "RGB"
    assert pixel(loaded, 0, 0) == WHITE
    assert pixel(loaded, 1, 0) == BLUE
    assert np.allclose(pixel(loaded, 2, 0), (127, 127, 127), atol=1)


def test_la_is_composited_on_white() -> None:
    image = Image.new("LA", (2, 1))
    image.putdata([(0, 0), (0, 255)])
    loaded = load_image(encode(image))
    assert (pixel(loaded, 0, 0), pixel(loaded, 1, 0)) == (WHITE, (0, 0, 0))


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("L", [0, 100], [0, 100]),
        ("1", [0, 1], [0, 255]),
        ("I;16", [0, 65535], [0, 255]),
        ("I;16", [32896, 257], [128, 1]),
    ],
)
def test_grayscale_modes_become_gray_rgb(mode: str, values: list[int], expected: list[int]) -> None:
    image = Image.new(mode, (2, 1))
    image.putdata(values)
    loaded = load_image(encode(image))
    assert loaded.mode == "RGB"
    assert [pixel(loaded, x, 0) for x in range(2)] == [(level,) * 3 for level in expected]


def test_sixteen_bit_png_opened_as_mode_i_is_scaled_not_clipped() -> None:
    image = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.int32))
    assert [pixel(to_rgb(image), x, 0) for x in range(3)] == [(0, 0, 0), (128,) * 3, WHITE]


def test_eight_bit_values_in_mode_i_are_kept() -> None:
    image = Image.fromarray(np.array([[0, 200]], dtype=np.int32))
    assert pixel(to_rgb(image), 1, 0) == (200, 200, 200)


@pytest.mark.parametrize(("values", "expected"), [([0.0, 1.0], [0, 255]), ([0.0, 200.0], [0, 200])])
def test_float_images_are_scaled_by_their_range(values: list[float], expected: list[int]) -> None:
    image = Image.fromarray(np.array([values], dtype=np.float32))
    assert [pixel(to_rgb(image), x, 0) for x in range(2)] == [(level,) * 3 for level in expected]


def test_cmyk_is_converted() -> None:
    image = Image.new("CMYK", (2, 1))
    image.putdata([(0, 0, 0, 0), (0, 255, 255, 0)])
    loaded = load_image(encode(image, "TIFF"))
    assert (pixel(loaded, 0, 0), pixel(loaded, 1, 0)) == (WHITE, RED)


def test_path_file_object_and_bytes_give_the_same_image(tmp_path: Path) -> None:
    data = encode(Image.new("RGB", (5, 4), BLUE))
    path = tmp_path / "blue.png"
    path.write_bytes(data)
    with path.open("rb") as file:
        from_file = load_image(file)
    images = [load_image(path), load_image(str(path)), load_image(data), from_file]
    for image in images:
        assert image.mode == "RGB"
        assert np.array_equal(np.asarray(image), np.asarray(images[0]))


def test_image_is_usable_after_its_file_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "red.jpg"
    path.write_bytes(encode(Image.new("RGB", (8, 8), RED), "JPEG"))
    image = load_image(path)
    assert np.allclose(pixel(image, 4, 4), RED, atol=5)


def test_truncated_file_names_the_file(tmp_path: Path) -> None:
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    path = tmp_path / "cut-short.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"cut-short\.jpg"):
        load_image(path)


def test_text_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a picture")
    with pytest.raises(ImageLoadError, match=r"notes\.txt.*not a recognised image"):
        load_image(path)


def test_corrupt_bytes_name_the_upload() -> None:
    with pytest.raises(ImageLoadError, match="uploaded image"):
        load_image(b"\x89PNG\r\n\x1a\n garbage")


def test_given_name_is_used_in_messages() -> None:
    with pytest.raises(ImageLoadError, match=r"shelf-photo\.jpg"):
        load_image(io.BytesIO(b"garbage"), name="shelf-photo.jpg")


def test_missing_file_is_an_image_load_error(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"absent\.png: no such file"):
        load_image(tmp_path / "absent.png")


def test_too_many_pixels_is_refused_before_decoding() -> None:
    # The pixel data is missing, so reaching the decoder would raise a different error.
    with pytest.raises(ImageTooLargeError, match="8000x6000"):
        load_image(png_claiming_size(8000, 6000), max_pixels=1_000_000)


def test_pillow_decompression_bomb_is_too_large_and_limit_untouched() -> None:
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError):
        load_image(png_claiming_size(100_000, 100_000), max_pixels=10**11)
    assert limit == Image.MAX_IMAGE_PIXELS


def test_default_limit_allows_ordinary_photos() -> None:
    assert DEFAULT_MAX_PIXELS == 40_000_000
    with pytest.raises(ImageTooLargeError):
        load_image(png_claiming_size(8000, 6000))
    # Under the limit the header passes and the (missing) data fails to decode instead.
    with pytest.raises(ImageLoadError) as caught:
        load_image(png_claiming_size(4000, 3000))
    assert not isinstance(caught.value, ImageTooLargeError)


def test_the_bomb_message_names_our_limit_not_pillows() -> None:
    with pytest.raises(ImageTooLargeError, match=f"limit of {10**11}"):
        load_image(png_claiming_size(100_000, 100_000), max_pixels=10**11)


@pytest.mark.parametrize("size", [(8000, 1), (1, 4000), (2100, 100)])
def test_an_elongated_strip_is_refused_before_decoding(size: tuple[int, int]) -> None:
    # A few bytes of PNG that a resize to the model's input would blow up to gigabytes.
    tiny = encode(Image.new("L", size))
    assert len(tiny) < 2000
    with pytest.raises(ImageLoadError, match="more elongated than 20:1"):
        load_image(tiny)
    assert load_image(encode(Image.new("RGB", (2000, 100)))).size == (2000, 100)  # 20:1 is fine


def test_an_icon_holding_a_large_png_is_not_opened() -> None:
    # An ICO's directory can claim 16x16 while its frame is a far larger PNG, decoded whole.
    icon = encode(Image.new("RGB", (64, 64), RED), "ICO", sizes=[(16, 16)])
    with pytest.raises(ImageLoadError, match="not a recognised image format"):
        load_image(icon)


def test_phone_camera_formats_are_accepted() -> None:
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        assert load_image(encode(Image.new("RGB", (8, 6), BLUE), fmt)).size == (8, 6), fmt


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Random pixels: any misplaced or resampled pixel shows."""
    channels = len(mode)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels, mode)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_region_is_a_box_of_the_photo_as_shown(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    # 80x40, so the region is at least 16 pixels a side however the photo is turned.
    data = encode(noise((80, 40)), exif=exif)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))  # Pillow's reading of the tag
    region = (0.25, 0.1, 0.75, 0.9)
    box = (
        round(region[0] * shown.width),
        round(region[1] * shown.height),
        round(region[2] * shown.width),
        round(region[3] * shown.height),
    )
    loaded = load_image(data, region=region)
    assert np.array_equal(np.asarray(loaded), np.asarray(shown.crop(box)))


def test_a_region_under_sixteen_pixels_a_side_is_refused() -> None:
    with pytest.raises(RegionTooSmallError, match="smaller than 16 pixels"):
        load_image(encode(noise((100, 100))), region=(0.0, 0.0, 0.15, 1.0))
    assert load_image(encode(noise((100, 100))), region=(0.0, 0.0, 0.16, 1.0)).size == (16, 100)


def test_reduced_decoding_shrinks_by_a_whole_factor_as_a_full_decode_would() -> None:
    image = noise((1300, 1100), "RGBA")
    data = encode(image)
    reduced = load_image(data, reduce_to=256)
    # The largest whole factor that keeps the shorter side at least 256: 1100 // 256 = 4.
    assert reduced.size == (325, 275)
    # Strip by strip, transparency composited before averaging: the same pixels as compositing the
    # whole image and then averaging.
    assert np.array_equal(np.asarray(reduced), np.asarray(load_image(data).reduce(4)))


def test_reduced_decoding_keeps_a_small_regions_detail() -> None:
    data = encode(noise((2000, 2000)))
    region = (0.5, 0.5, 0.75, 0.75)  # 500 pixels a side
    loaded = load_image(data, reduce_to=256, region=region)
    assert loaded.size == (500, 500)  # 500 // 256 = 1: not reduced
    assert np.array_equal(np.asarray(loaded), np.asarray(load_image(data).crop((1000, 1000, 1500, 1500))))


def test_a_jpeg_is_drafted_down_to_what_the_reduction_keeps() -> None:
    data = encode(noise((3200, 2400)), "JPEG", quality=90)
    loaded = load_image(data, reduce_to=300)
    # libjpeg's 1/8 scale gives 400x300, whose shorter side is just the 300 asked for.
    assert loaded.size == (400, 300)
    assert load_image(data, reduce_to=300, region=(0.0, 0.0, 0.5, 0.5)).size == (400, 300)  # 1/4 scale


def test_an_images_shown_size_comes_from_its_header() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    assert probe(encode(noise((40, 20)), "JPEG", exif=exif)) == ("JPEG", (20, 40))
    assert probe(encode(noise((40, 20)))) == ("PNG", (40, 20))


PEAK_SCRIPT = """
import sys
from pathlib import Path
from PIL import Image, ImageOps
from embedder.images import load_image, to_rgb

data = Path(sys.argv[1]).read_bytes()
reduce_to = int(sys.argv[2])

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to what is held now
before = status("VmRSS")
if reduce_to:
    image = load_image(data, reduce_to=reduce_to)
else:  # the whole image at once, as load_image did before it converted in strips
    image = to_rgb(ImageOps.exif_transpose(Image.open(sys.argv[1])))
print(status("VmHWM") - before)
"""


def decode_peak(path: Path, reduce_to: int) -> int:
    """Bytes of resident memory a decode adds at its peak, measured in a fresh process (0: whole)."""
    run = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path), str(reduce_to)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(run.stdout.split()[-1])


def test_a_large_transparent_png_costs_little_more_than_its_pixels(tmp_path: Path) -> None:
    # 3000x3000 RGBA: 36 MB of decoded pixels. Converting it whole made several full-size copies
    # (the orientation copy, RGBA, the white background, the composite, RGB).
    path = tmp_path / "large.png"
    noise((3000, 3000), "RGBA").save(path, compress_level=1)
    pixels = 3000 * 3000 * 4
    full, reduced = decode_peak(path, 0), decode_peak(path, 512)
    assert full > 3 * pixels  # converting the whole image at once, which the strips avoid
    assert reduced < 1.5 * pixels


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_a_region_too_small_once_turned_is_refused_whatever_the_format(fmt: str) -> None:
    # 400x20 stored, shown 20x400 (orientation 6). The region is 16 pixels wide in the stored image
    # but under one pixel high in what it shows; a box of no pixels once made the model divide by zero.
    exif = Image.Exif()
    exif[0x0112] = 6
    options: dict[str, object] = {"exif": exif, **({"lossless": True} if fmt == "WEBP" else {})}
    data = encode(noise((400, 20)), fmt, **options)
    with pytest.raises(RegionTooSmallError):
        load_image(data, region=(0.03, 0.0, 0.07, 1.0), reduce_to=512)


@pytest.mark.parametrize(
    ("mode", "low", "high"), [("I", 200, 60000), ("F", 0.5, 100.0)], ids=["32-bit integer", "float"]
)
def test_a_high_bit_depth_image_is_scaled_by_its_whole_range_not_each_strips(
    mode: str, low: float, high: float
) -> None:
    # The top half in one range, the bottom in another: converting strip by strip must map both
    # halves as converting the whole image does.
    pixels = np.full((1100, 1300), low, dtype=np.int32 if mode == "I" else np.float32)
    pixels[550:] = high
    data = encode(Image.fromarray(pixels, mode), "TIFF")
    reduced = load_image(data, reduce_to=256)
    whole = to_rgb(Image.open(io.BytesIO(data))).reduce(4)
    assert np.array_equal(np.asarray(reduced), np.asarray(whole))


def test_probing_a_png_reads_its_header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # A catalog upload is probed after its reduced decode; decoding it whole again would cost the
    # memory the reduced decode saves.
    from PIL import PngImagePlugin

    exif = Image.Exif()
    exif[0x0112] = 6
    plain, turned = encode(noise((40, 20))), encode(noise((40, 20)), exif=exif)

    def no_decode(self: Image.Image) -> None:
        raise AssertionError("probe decoded the pixels")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decode)
    assert probe(plain) == ("PNG", (40, 20))
    assert probe(turned) == ("PNG", (20, 40))


def test_a_region_more_elongated_than_a_photo_may_be_is_refused() -> None:
    data = encode(noise((2000, 2000)))
    with pytest.raises(RegionTooSmallError, match="more elongated than 20:1"):
        load_image(data, region=(0.0, 0.0, 0.02, 1.0))  # 40 x 2000 pixels
    assert load_image(data, region=(0.0, 0.0, 0.05, 1.0)).size == (100, 2000)  # 20:1 is fine

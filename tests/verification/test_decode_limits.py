"""Decode limits: per-format pixel caps checked on the header, and a small working copy of large images."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from verification.decode import decode_image
from verification.errors import ImageError
from verification.settings import DEFAULT_PIXEL_CAPS, PIXEL_CEILING, PROGRESSIVE_JPEG, EngineSettings


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR claims width x height (CRC fixed): a header-only bomb."""
    png = bytearray(_encode(Image.new("RGB", (1, 1)), "PNG"))
    ihdr = bytearray(png[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(png)


def _refused_quickly(data: bytes, **kwargs: int) -> ImageError:
    started = time.perf_counter()
    with pytest.raises(ImageError) as info:
        decode_image(data, max_pixels=kwargs.get("max_pixels", PIXEL_CEILING), min_long_side=640)
    # Decoding 64 MP takes ~0.7 s and 250 MB; the header check takes well under 50 ms.
    assert time.perf_counter() - started < 0.1
    assert info.value.code == "image_too_large"
    return info.value


@pytest.fixture(scope="module")
def hostile_png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    # 8000 x 8000 of one grey: 64 MP that compresses to about 60 KB.
    path = tmp_path_factory.mktemp("hostile") / "bomb.png"
    Image.new("L", (8000, 8000), 128).save(path, optimize=True)
    return path.read_bytes()


def test_hostile_png_is_refused_from_the_header(hostile_png: bytes) -> None:
    assert len(hostile_png) < 200_000
    error = _refused_quickly(hostile_png)
    assert f"{DEFAULT_PIXEL_CAPS['image/png']:,}" in error.detail


def test_crafted_png_header_is_refused_even_with_the_old_global_cap() -> None:
    _refused_quickly(_png_declaring(9000, 9000), max_pixels=50_000_000)  # 81 MP
    _refused_quickly(_png_declaring(4097, 4097))  # just above the PNG cap


def test_hostile_webp_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.webp"
    Image.new("RGB", (6000, 6000), (120, 130, 140)).save(path, lossless=True)  # 36 MP, a few KB
    assert path.stat().st_size < 50_000
    _refused_quickly(path.read_bytes())


def test_progressive_jpeg_has_the_lower_cap(tmp_path: Path) -> None:
    path = tmp_path / "progressive.jpg"
    Image.new("RGB", (5000, 4000), (120, 130, 140)).save(path, progressive=True, quality=70)  # 20 MP
    _refused_quickly(path.read_bytes())
    assert DEFAULT_PIXEL_CAPS[PROGRESSIVE_JPEG] < 20_000_000 < DEFAULT_PIXEL_CAPS["image/jpeg"]


def test_hostile_heic_is_refused_from_the_header() -> None:
    # A real 64x64 HEIC whose image spatial extent ("ispe") claims 8200 x 6400 (52.5 MP): encoding that size for
    # real takes x265 ten seconds, and the header is all the decoder looks at before load().
    heic = bytearray(_encode(Image.new("RGB", (64, 64), (120, 130, 140)), "HEIF"))
    at = heic.find(b"ispe")
    heic[at + 8 : at + 16] = struct.pack(">II", 8200, 6400)
    _refused_quickly(bytes(heic))
    assert 5712 * 4284 <= DEFAULT_PIXEL_CAPS["image/heic"]  # iPhone's default 24 MP stays allowed


def test_large_baseline_jpeg_is_decoded_at_reduced_size(tmp_path: Path) -> None:
    # A 108 MP phone photo (12000 x 9000) is above Pillow's default bomb guard but allowed and cheap.
    path = tmp_path / "phone108.jpg"
    Image.new("RGB", (12000, 9000), (120, 130, 140)).save(path, quality=80)
    decoded = decode_image(path.read_bytes(), max_pixels=PIXEL_CEILING, min_long_side=640)
    assert (decoded.width, decoded.height) == (12000, 9000)
    assert decoded.rgb.shape == (1125, 1500, 3)  # 1/8 DCT scale
    assert decoded.scale == pytest.approx(8.0)


def test_phone_size_jpeg_still_decodes() -> None:
    data = _encode(Image.new("RGB", (4032, 3024), (90, 100, 110)), "JPEG", quality=85)
    decoded = decode_image(data, max_pixels=EngineSettings().max_pixels, min_long_side=640)
    assert (decoded.width, decoded.height) == (4032, 3024)
    assert max(decoded.rgb.shape[:2]) == 1008


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "L", "I;16"])
def test_allowed_large_png_is_reduced_early(mode: str) -> None:
    # 3600 x 2400: decoded, then box-reduced by 2 (the largest factor keeping >= 1280 px) before anything else.
    image = Image.new("RGB", (3600, 2400), (200, 100, 50)) if mode != "I;16" else Image.new("I;16", (3600, 2400), 60000)
    if mode not in ("RGB", "I;16"):
        image = image.convert(mode)
    decoded = decode_image(_encode(image, "PNG"), max_pixels=PIXEL_CEILING, min_long_side=640)
    assert decoded.rgb.shape == (1200, 1800, 3)
    assert (decoded.width, decoded.height) == (3600, 2400)
    assert decoded.scale == pytest.approx(2.0)
    assert decoded.rgb.dtype == np.uint8


def test_reduced_png_keeps_exif_orientation() -> None:
    image = Image.new("RGB", (3000, 1500), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 300, 1500))  # white left edge
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 degrees clockwise to display: the left edge becomes the top
    decoded = decode_image(_encode(image, "PNG", exif=exif), max_pixels=PIXEL_CEILING, min_long_side=640)
    assert decoded.rgb.shape == (1500, 750, 3)
    assert (decoded.width, decoded.height) == (1500, 3000)
    assert decoded.rgb[:50].mean() > 250 and decoded.rgb[-50:].mean() < 5


def test_max_pixels_setting_is_bounded() -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        EngineSettings(max_pixels=PIXEL_CEILING + 1)
    assert EngineSettings.from_mapping({"max_pixels": "12000000"}).max_pixels == 12_000_000


@pytest.mark.parametrize("plugin", ["PngImagePlugin.PngImageFile", "WebPImagePlugin.WebPImageFile"])
def test_nothing_is_decoded_before_the_size_check(monkeypatch: pytest.MonkeyPatch, hostile_png: bytes,
                                                  plugin: str) -> None:
    import importlib

    module_name, class_name = plugin.split(".")
    cls = getattr(importlib.import_module(f"PIL.{module_name}"), class_name)

    def refuse_to_load(self: object) -> None:
        raise AssertionError("load() ran before the pixel cap was checked")

    monkeypatch.setattr(cls, "load", refuse_to_load)
    webp = _encode(Image.new("RGB", (6000, 6000), (1, 2, 3)), "WEBP", lossless=True)
    _refused_quickly(hostile_png if "Png" in plugin else webp)

"""Decoding: content sniffing, orientation, colour modes, size guards and truncated data."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from verification.decode import decode_image, sniff_content_type
from verification.engine import FaceEngine
from verification.errors import ImageError


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate(
        [
            np.broadcast_to(x, (height, width, 1)),
            np.broadcast_to(y, (height, width, 1)),
            np.full((height, width, 1), 90, np.float32),
        ],
        axis=2,
    )
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", None),
        ("BMP", None),
        ("TIFF", None),
    ],
)
def test_sniff_content_type_by_magic_bytes(fmt: str, expected: str | None) -> None:
    assert sniff_content_type(_encode(_gradient(16, 16), fmt)) == expected


def test_sniff_rejects_text_and_empty_and_avif() -> None:
    assert sniff_content_type(b"") is None
    assert sniff_content_type(b"hello, this is not an image") is None
    avif = struct.pack(">I", 24) + b"ftypavif" + b"\x00\x00\x00\x00" + b"avifmif1"
    assert sniff_content_type(avif) is None
    heic = struct.pack(">I", 24) + b"ftypmif1" + b"\x00\x00\x00\x00" + b"mif1heic"
    assert sniff_content_type(heic) == "image/heic"


def test_sniff_heic_file(faces_dir: Path) -> None:
    assert sniff_content_type((faces_dir / "edge" / "heic_portrait.heic").read_bytes()) == "image/heic"


def test_unsupported_media_type_is_refused() -> None:
    with pytest.raises(ImageError) as info:
        decode_image(_encode(_gradient(16, 16), "GIF"), max_pixels=10_000, min_long_side=640)
    assert info.value.code == "unsupported_media_type"
    assert info.value.detail


def test_exif_orientation_is_applied_and_fields_kept() -> None:
    image = _gradient(40, 20)
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 degrees clockwise to display
    exif[271] = "Acme"
    exif[272] = "Phone 9"
    exif.get_ifd(0x8769)[36867] = "2024:05:01 08:30:00"
    decoded = decode_image(_encode(image, "JPEG", exif=exif), max_pixels=10_000, min_long_side=640)
    assert decoded.rgb.shape == (40, 20, 3)
    assert (decoded.width, decoded.height) == (20, 40)
    assert decoded.exif == {"Make": "Acme", "Model": "Phone 9", "DateTimeOriginal": "2024:05:01 08:30:00"}
    # The left edge of the original (dark red) is the top edge after a clockwise turn.
    assert decoded.rgb[0, :, 0].mean() < decoded.rgb[-1, :, 0].mean()


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "I;16", "CMYK"])
def test_colour_modes_become_rgb(mode: str) -> None:
    image = _gradient(32, 24).convert(mode) if mode != "I;16" else Image.new("I;16", (32, 24), 40000)
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    decoded = decode_image(_encode(image, fmt), max_pixels=10_000, min_long_side=640)
    assert decoded.rgb.shape == (24, 32, 3)
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.flags["C_CONTIGUOUS"]


def test_large_jpeg_is_decoded_at_reduced_size() -> None:
    data = _encode(_gradient(4000, 3000), "JPEG", quality=80)
    decoded = decode_image(data, max_pixels=50_000_000, min_long_side=960)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert decoded.rgb.shape == (750, 1000, 3)  # libjpeg 1/4 scale: the smallest that keeps >= 960 px
    assert decoded.scale == pytest.approx(4.0)


def test_pixel_limit_gives_image_too_large() -> None:
    with pytest.raises(ImageError) as info:
        decode_image(_encode(_gradient(200, 100), "PNG"), max_pixels=19_999, min_long_side=640)
    assert info.value.code == "image_too_large"


def test_decompression_bomb_header_gives_image_too_large() -> None:
    png = bytearray(_encode(Image.new("RGB", (1, 1)), "PNG"))
    # Rewrite IHDR to claim 30000 x 30000 pixels (with a valid CRC); nothing that large is ever allocated.
    ihdr = bytearray(png[12:29])
    ihdr[4:12] = struct.pack(">II", 30_000, 30_000)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    with pytest.raises(ImageError) as info:
        decode_image(bytes(png), max_pixels=50_000_000, min_long_side=640)
    assert info.value.code == "image_too_large"


def test_truncated_jpeg_is_invalid_even_after_face_recognition_is_loaded(engine: FaceEngine) -> None:
    import face_recognition  # noqa: F401  (importing it switches LOAD_TRUNCATED_IMAGES on)

    assert engine.models is not None
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = _encode(_gradient(320, 240), "JPEG", quality=90)
    truncated = data[: int(len(data) * 0.6)]
    with pytest.raises(ImageError) as info:
        engine.analyze(truncated, purpose="checkin")
    assert info.value.code == "invalid_image"
    # The intact file decodes, so the error is about the truncation and nothing else.
    assert decode_image(data, max_pixels=10**6, min_long_side=640).rgb.shape == (240, 320, 3)


@pytest.mark.parametrize(
    "data", [b"\xff\xd8\xff\xe0garbage", b"\x89PNG\r\n\x1a\n\x00\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
)
def test_corrupt_bytes_with_valid_magic_are_invalid_image(data: bytes) -> None:
    with pytest.raises(ImageError) as info:
        decode_image(data, max_pixels=10**6, min_long_side=640)
    assert info.value.code == "invalid_image"

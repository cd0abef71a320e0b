"""Turn uploaded bytes into an upright RGB array, refusing anything that is not a clean image."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from verification.errors import ImageError, ImageErrorCode

pillow_heif.register_heif_opener()

# Pillow format names allowed for each sniffed content type: the sniffed type, not the file name or
# Pillow's own guess, decides which decoder may touch the bytes.
_PILLOW_FORMATS: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_EXIF_IFD = 0x8769
_EXIF_FIELDS = {271: "Make", 272: "Model", 306: "DateTime"}
_EXIF_SUB_FIELDS = {36867: "DateTimeOriginal", 36881: "OffsetTimeOriginal"}
_ORIENTATION_TAG = 274


def sniff_content_type(data: bytes) -> str | None:
    """Return the image content type from magic bytes (JPEG, PNG, WEBP, HEIC), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 16 and data[4:8] == b"ftyp":
        # ISO-BMFF: major brand at 8..12, compatible brands after the minor version. HEIC may carry the
        # generic "mif1" major brand, so look at the compatible brands too; AVIF is not accepted.
        box_size = int.from_bytes(data[:4], "big")
        end = min(max(box_size, 16), len(data), 64)
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & _HEIC_BRANDS:
            return "image/heic"
    return None


@dataclass
class DecodedImage:
    """An upright RGB image, possibly decoded at reduced size, and facts about the original."""

    rgb: np.ndarray  # uint8 HxWx3, C-contiguous
    content_type: str
    width: int  # full-resolution width after orientation
    height: int
    scale: float  # full-resolution pixels per pixel of `rgb`
    orientation: int
    exif: dict[str, str] = field(default_factory=dict)
    has_exif: bool = False


def decode_image(data: bytes, *, max_pixels: int, min_long_side: int) -> DecodedImage:
    """Decode bytes into upright RGB, JPEGs at the smallest DCT scale that keeps `min_long_side`."""
    content_type = sniff_content_type(data)
    if content_type is None:
        raise ImageError(
            ImageErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "The upload is not a JPEG, PNG, WEBP or HEIC image.",
        )
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            ImageErrorCode.INVALID_IMAGE, "The image could not be read; it may be damaged."
        ) from exc

    with image:
        full_w, full_h = image.size
        if full_w <= 0 or full_h <= 0 or full_w * full_h > max_pixels:
            raise _too_large(max_pixels)
        try:
            exif = image.getexif()
        except Exception:  # a broken EXIF block must not sink an otherwise valid photo
            exif = Image.Exif()
        orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
        if image.format == "JPEG":
            _draft(image, min_long_side)
        try:
            # load() raises on truncated data only while ImageFile.LOAD_TRUNCATED_IMAGES is False; the
            # model module resets the flag that importing face_recognition switches on.
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb(upright)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageError(
                ImageErrorCode.INVALID_IMAGE, "The image data is truncated or corrupt."
            ) from exc

    if orientation in (5, 6, 7, 8):
        full_w, full_h = full_h, full_w
    array = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return DecodedImage(
        rgb=array,
        content_type=content_type,
        width=full_w,
        height=full_h,
        scale=full_w / array.shape[1],
        orientation=orientation,
        exif=_exif_fields(exif),
        has_exif=len(exif) > 0,
    )


def _too_large(max_pixels: int) -> ImageError:
    return ImageError(
        ImageErrorCode.IMAGE_TOO_LARGE,
        f"The image has more than {max_pixels:,} pixels.",
    )


def _draft(image: Image.Image, min_long_side: int) -> None:
    # Ask libjpeg for a DCT-scaled decode (1/2, 1/4, 1/8): a 12 MP photo decodes ~10x faster at 1/4 and
    # the face is still far larger than the 150 px chip the encoder uses.
    w, h = image.size
    long_side = max(w, h)
    if long_side <= min_long_side:
        return
    factor = min_long_side / long_side
    image.draft("RGB", (max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor))))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNGs: scale to 8 bits instead of letting convert() clip at 255.
        array = np.asarray(image, dtype=np.float64)
        peak = float(array.max()) or 1.0
        image = Image.fromarray(np.clip(array * (255.0 / max(peak, 255.0)), 0, 255).astype(np.uint8))
    # convert() drops alpha and expands greyscale and palette images to three channels.
    return image.convert("RGB")


def _exif_fields(exif: Image.Exif) -> dict[str, str]:
    found: dict[str, str] = {}
    for tag, name in _EXIF_FIELDS.items():
        if tag in exif:
            found[name] = _exif_text(exif[tag])
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # malformed sub-IFD: keep what the main IFD gave
        sub = {}
    for tag, name in _EXIF_SUB_FIELDS.items():
        if tag in sub:
            found[name] = _exif_text(sub[tag])
    return {k: v for k, v in found.items() if v}


def _exif_text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").strip()[:64]

"""Turn uploaded bytes into an upright RGB array, refusing anything that is not a clean image."""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from verification.errors import ImageError, ImageErrorCode
from verification.settings import DEFAULT_PIXEL_CAPS, PIXEL_CEILING, PROGRESSIVE_JPEG

pillow_heif.register_heif_opener()
# Pillow's own bomb guard stays on as a backstop above the largest cap we accept (its default, 89 MP, would warn
# about a 108 or 200 MP phone JPEG); our per-format caps are checked on the header right after open().
Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, PIXEL_CEILING)
# Only JPEG can be decoded at reduced size: every other format is decoded at full size first. One such decode at a
# time per process bounds a worker's peak memory to one image whatever its thread count (a 16 MP PNG: ~70 MB).
_FULL_DECODES = threading.BoundedSemaphore(1)
_FULL_DECODE_MIN_PIXELS = 4_000_000

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
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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


def decode_image(data: bytes, *, max_pixels: int, min_long_side: int, caps: Mapping[str, int] | None = None,
                 content_type: str | None = None) -> DecodedImage:
    """Decode bytes into upright RGB no longer than needed, refusing images over the pixel caps from the header.

    `caps` maps a content type (and "image/jpeg;progressive") to its pixel cap (default DEFAULT_PIXEL_CAPS);
    `max_pixels` caps every format. JPEGs decode at the smallest DCT scale that keeps `min_long_side`; other
    formats are box-reduced right after decoding to a long side of 2-4x `min_long_side`. `content_type` is what
    sniff_content_type found, when the caller has already asked it. An ImageError carries the sniffed type.
    """
    # A caller that sniffed the bytes already (the upload at the HTTP edge) passes its finding, to sniff once.
    content_type = content_type if content_type is not None else sniff_content_type(data)
    if content_type not in _PILLOW_FORMATS:
        raise ImageError(
            ImageErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "The upload is not a JPEG, PNG, WEBP or HEIC image.",
        )
    try:
        return _decode(data, content_type, max_pixels=max_pixels, min_long_side=min_long_side,
                       caps=DEFAULT_PIXEL_CAPS if caps is None else caps)
    except ImageError as exc:
        exc.content_type = content_type
        raise


def _decode(data: bytes, content_type: str, *, max_pixels: int, min_long_side: int,
            caps: Mapping[str, int]) -> DecodedImage:
    try:
        # open() reads the header only (the size is known, no pixel is decoded until load()).
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(min(max_pixels, caps.get(content_type, max_pixels))) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            ImageErrorCode.INVALID_IMAGE, "The image could not be read; it may be damaged."
        ) from exc

    with image:
        full_w, full_h = image.size
        progressive = image.format == "JPEG" and bool(image.info.get("progressive") or image.info.get("progression"))
        # A progressive JPEG keeps every DCT coefficient of the full image in memory even when drafted.
        cap = min(max_pixels, caps.get(PROGRESSIVE_JPEG if progressive else content_type, max_pixels))
        if full_w <= 0 or full_h <= 0 or full_w * full_h > cap:
            raise _too_large(cap)
        if image.format == "JPEG":
            _draft(image, min_long_side)
        try:
            # load() raises on truncated data only while ImageFile.LOAD_TRUNCATED_IMAGES is False; the
            # model module resets the flag that importing face_recognition switches on.
            full_size = image.format != "JPEG" or progressive
            if full_size and full_w * full_h >= _FULL_DECODE_MIN_PIXELS:
                with _FULL_DECODES:
                    image.load()
                    exif = _read_exif(image)
                    small = _reduce(image, min_long_side)
                    if small is not image:
                        # Free the full-size pixels before the next full decode may start: otherwise each
                        # thread that passed the semaphore still holds one whole image while the next decodes.
                        image.close()
            else:
                image.load()
                small = _reduce(image, min_long_side) if image.format != "JPEG" else image
                exif = _read_exif(image)
            orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
            if small is image:
                upright = ImageOps.exif_transpose(image)
            else:  # a reduced copy carries no EXIF: turn it as the original says
                upright = _transpose(small, orientation)
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


def _read_exif(image: Image.Image) -> Image.Exif:
    # Only after load(): PNG's getexif() loads the whole image itself (its eXIf chunk may follow the pixels).
    try:
        return image.getexif()
    except Exception:  # a broken EXIF block must not sink an otherwise valid photo
        return Image.Exif()


def _too_large(max_pixels: int) -> ImageError:
    return ImageError(
        ImageErrorCode.IMAGE_TOO_LARGE,
        f"The image has more than {max_pixels:,} pixels.",
    )


def _reduce(image: Image.Image, min_long_side: int) -> Image.Image:
    # Box-average by the largest integer factor that keeps the long side at least 2x min_long_side: the engine
    # then resizes to its working size as it would from the full image, and every later copy (orientation,
    # colour conversion, the array) is small. Images already that small are returned untouched.
    factor = max(image.size) // (2 * min_long_side)
    if factor < 2:
        return image
    if image.mode in ("P", "PA", "1"):
        image = image.convert("RGB")  # what _to_rgb would do: the palette's colours, alpha dropped
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    if image.mode in ("RGBA", "LA"):
        # Pillow reduces these through a full premultiplied copy; alpha is dropped later anyway, so reduce the
        # colour bands one at a time (one band of extra memory instead of the whole image).
        bands = [image.getchannel(i).reduce(factor) for i in range(len(image.mode) - 1)]
        return bands[0] if len(bands) == 1 else Image.merge("RGB", bands)
    return image.reduce(factor)


def _transpose(image: Image.Image, orientation: int) -> Image.Image:
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


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
    # A NUL inside a tag (junk or forged times) cannot be stored in a PostgreSQL JSON column: drop it here.
    return str(value).replace("\x00", "").strip()[:64]

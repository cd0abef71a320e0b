"""Exceptions raised by the face pipeline, each with a stable snake_case code."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ImageErrorCode(StrEnum):
    """Why an upload cannot be used as an image."""

    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    IMAGE_TOO_LARGE = "image_too_large"
    INVALID_IMAGE = "invalid_image"


class QualityErrorCode(StrEnum):
    """Why a decoded image holds no usable face."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    IMAGE_TOO_DARK = "image_too_dark"
    IMAGE_TOO_BRIGHT = "image_too_bright"
    IMAGE_TOO_BLURRY = "image_too_blurry"
    FACE_NOT_FRONTAL = "face_not_frontal"


class InputError(Exception):
    """An upload the pipeline cannot use: a stable snake_case code and a sentence that says why."""

    def __init__(self, code: StrEnum | str, detail: str) -> None:
        super().__init__(detail)
        self.code: str = str(code)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class ImageError(InputError):
    """The upload cannot be used as an image (an ImageErrorCode)."""

    # What the magic bytes said, set by the decoder: None when they name no accepted type.
    content_type: str | None = None


class QualityError(InputError):
    """An image decoded, but the face in it is not usable (a QualityErrorCode, with the measures taken)."""

    # The decoded image's type, set by the engine, so a refused photo can be kept as evidence without sniffing it again.
    content_type: str | None = None

    def __init__(
        self,
        code: QualityErrorCode | str,
        detail: str,
        quality: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, detail)
        self.quality: dict[str, Any] = dict(quality or {})

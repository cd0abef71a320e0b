"""Domain errors: each has a stable snake_case code that clients switch on, and an HTTP status hint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from verification.errors import ImageError, QualityError

if TYPE_CHECKING:
    from verification.video import VideoError


class AppError(Exception):
    """Base of every error the service reports to a client."""

    code = "app_error"
    status = 400
    title = "Request failed"

    def __init__(self, detail: str | None = None, *, code: str | None = None, status: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}


class NotFound(AppError):
    code = "not_found"
    status = 404
    title = "Not found"


class Forbidden(AppError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class Conflict(AppError):
    code = "conflict"
    status = 409
    title = "Conflict"


class RuleViolation(AppError):
    """The request is well-formed but a supervision rule refuses it."""

    code = "rule_violation"
    status = 422
    title = "Request refused by a rule"


class ValidationFailed(AppError):
    code = "validation_failed"
    status = 422
    title = "Validation failed"

    def __init__(self, errors: dict[str, Any], detail: str | None = None) -> None:
        super().__init__(detail or "Some fields are invalid.", extra={"errors": errors})


class InvalidCredentials(AppError):
    code = "invalid_credentials"
    status = 401
    title = "Invalid credentials"


class TokenRevoked(AppError):
    code = "token_revoked"
    status = 401
    title = "Token revoked"


class UnusableImage(AppError):
    """The uploaded image cannot be decoded, or its face fails a quality gate."""

    status = 422
    title = "Unusable image"

    def __init__(self, code: str, detail: str, *, status: int = 422, quality: dict[str, Any] | None = None) -> None:
        extra = {"quality": quality} if quality else {}
        super().__init__(detail, code=code, status=status, extra=extra)

    @classmethod
    def refusing(cls, error: ImageError | QualityError) -> UnusableImage:
        """The client-facing error for an image the engine refused."""
        if isinstance(error, ImageError):
            return cls(error.code, error.detail, status=REFUSAL_STATUS.get(error.code, 422))
        return cls(error.code, error.detail, quality=error.quality)


class UnusableVideo(AppError):
    """The uploaded clip cannot be decoded or is outside the limits."""

    status = 422
    title = "Unusable video"

    @classmethod
    def refusing(cls, error: VideoError) -> UnusableVideo:
        """The client-facing error for a clip the decoder refused."""
        return cls(error.detail, code=error.code, status=REFUSAL_STATUS.get(error.code, 422))


# The answer's status for a decoder refusal, by its code: bytes of no accepted type, or too many of them. Every
# other refusal (damaged, too long, a face that fails a gate) is 422.
REFUSAL_STATUS = {"unsupported_media_type": 415, "image_too_large": 413, "video_too_large": 413}

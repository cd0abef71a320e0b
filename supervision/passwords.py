"""Password hashing with argon2id, and the password policy."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from supervision.errors import ValidationFailed

PasswordRole = Literal["officer", "person"]
# Officers reach every person of an office (county admins: of a county), so their passwords are longer; persons
# type theirs on a phone and are given one by their officer. NIST SP 800-63B: length and a blocklist, no
# composition rules.
MIN_LENGTH: dict[str, int] = {"officer": 12, "person": 8}
MAX_LENGTH = 256
_MIN_DISTINCT = 4
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm",
              "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "1q2w3e4r5t6y7u8i9o0p")
_AFFIXES = "0123456789!@#$%^&*.?_-+= "

_hasher = PasswordHasher()
# Verified against when the user does not exist, so timing does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def validate_password(password: str, *, role: PasswordRole) -> None:
    """Raise ValidationFailed (field "password") unless password meets the policy for role."""
    problem = password_problem(password, role=role)
    if problem:
        raise ValidationFailed({"password": [problem]})


def password_problem(password: str, *, role: PasswordRole) -> str | None:
    """Why password is refused for role, or None when it is acceptable."""
    minimum = MIN_LENGTH[role]
    if len(password) < minimum:
        return f"Use at least {minimum} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if len(set(lowered)) < _MIN_DISTINCT:
        return "This password repeats too few characters; choose a longer phrase."
    if _is_sequence(lowered):
        return "This password is a keyboard or alphabet sequence; choose a phrase."
    common = _common_passwords()
    core = lowered.strip(_AFFIXES)  # "Password123!" is "password" with the usual decoration
    if lowered in common or core in common or (len(core) >= _MIN_DISTINCT and _is_sequence(core)):
        return "This password is among the most common ones; choose another."
    return None


def _is_sequence(text: str) -> bool:
    if len(text) < _MIN_DISTINCT:
        return False
    for sequence in _SEQUENCES:
        # Repeated so that wrapping runs ("7890123") count too, and backwards.
        looped = sequence * (len(text) // len(sequence) + 2)
        if text in looped or text[::-1] in looped:
            return True
    return False


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("supervision").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time and answer False."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)

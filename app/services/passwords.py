"""Password hashing (scrypt) and the rules a new password must pass."""

from __future__ import annotations

import math
import string

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 6
MAX_LENGTH = 64
TEMPORARY_MIN_LENGTH = 8
# Coder's threshold (go-password-validator): below this many bits a password is too guessable.
MIN_ENTROPY_BITS = 52
WEAK = (
    "insecure password, try including more special characters, using uppercase letters, "
    "using numbers or using a longer password"
)

_SPECIAL = set(string.punctuation + " ")


def hash_password(password: str) -> str:
    """A salted scrypt hash (werkzeug's format, the salt and parameters inside)."""
    return generate_password_hash(password, method="scrypt")


def matches(password_hash: str, password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash, password)


def _base(password: str) -> int:
    """The size of the alphabet the password draws from, by character class."""
    classes = {
        "lower": (26, str.islower),
        "upper": (26, str.isupper),
        "digit": (10, str.isdigit),
    }
    base = 0
    for size, test in classes.values():
        if any(test(ch) and ch.isascii() for ch in password):
            base += size
    if any(ch in _SPECIAL for ch in password):
        base += len(_SPECIAL)
    others = {ch for ch in password if not ch.isascii()}
    return base + len(others)


def _effective_length(password: str) -> int:
    """The length, counting a run of one repeated character as at most two."""
    length, run, previous = 0, 0, None
    for ch in password:
        run = run + 1 if ch == previous else 1
        previous = ch
        if run <= 2:
            length += 1
    return length


def entropy_bits(password: str) -> float:
    base = _base(password)
    if base <= 1:
        return 0.0
    return _effective_length(password) * math.log2(base)


def problems(password: str) -> list[str]:
    """What is wrong with a password a user chooses (v2 rules); empty when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return [f"password must be at least {MIN_LENGTH} characters long"]
    if len(password) > MAX_LENGTH:
        return [f"password must be no more than {MAX_LENGTH} characters long"]
    if entropy_bits(password) < MIN_ENTROPY_BITS:
        return [WEAK]
    return []


def temporary_problems(password: str) -> list[str]:
    """An administrator-set temporary password only needs a minimum length (v0)."""
    if len(password) < TEMPORARY_MIN_LENGTH:
        return [f"a temporary password must be at least {TEMPORARY_MIN_LENGTH} characters long"]
    if len(password) > MAX_LENGTH:
        return [f"password must be no more than {MAX_LENGTH} characters long"]
    return []

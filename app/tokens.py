"""API key generation, parsing and hashing: `<id>-<secret>`, only SHA-256(secret) stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 10
SECRET_LENGTH = 22
_FORMAT = re.compile(r"^([0-9A-Za-z]{10})-([0-9A-Za-z]{22})$")


class TokenFormatError(ValueError):
    """The token does not look like `<10 chars>-<22 chars>`."""


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def generate() -> tuple[str, str, str]:
    """A new key: (id, secret, hashed secret)."""
    key_id, secret = _random(ID_LENGTH), _random(SECRET_LENGTH)
    return key_id, secret, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split(token: str) -> tuple[str, str]:
    """Split a token into (id, secret), explaining what is wrong when it is malformed."""
    match = _FORMAT.match(token)
    if match:
        return match.group(1), match.group(2)
    parts = token.split("-")
    if len(parts) != 2:
        raise TokenFormatError(f'expected "<id>-<secret>", got {len(parts)} part(s)')
    key_id, secret = parts
    if len(key_id) != ID_LENGTH:
        raise TokenFormatError(f"the id must be {ID_LENGTH} characters, got {len(key_id)}")
    if len(secret) != SECRET_LENGTH:
        raise TokenFormatError(f"the secret must be {SECRET_LENGTH} characters, got {len(secret)}")
    raise TokenFormatError("the id and secret may contain only letters and digits")


def secret_matches(secret: str, hashed: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret).encode(), hashed.encode())

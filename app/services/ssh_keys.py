"""Users' SSH key pairs: generated with `cryptography`, the private half encrypted at rest."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app import crypto

ALGORITHMS = ("ed25519", "ecdsa", "rsa4096")


@dataclass(frozen=True)
class Keygen:
    """How to make and keep a key pair: the deployment's algorithm and the at-rest key."""

    algorithm: str
    secret_key: str


@dataclass(frozen=True)
class KeyPair:
    algorithm: str
    public_key: str  # OpenSSH authorized_keys line
    private_key_encrypted: str


def _private_key(algorithm: str):
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    raise ValueError(f'unknown SSH key algorithm "{algorithm}" (one of {", ".join(ALGORITHMS)})')


def generate(keygen: Keygen) -> KeyPair:
    """A fresh key pair; only the encrypted private key leaves this function."""
    private = _private_key(keygen.algorithm)
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return KeyPair(
        algorithm=keygen.algorithm,
        public_key=public.decode(),
        private_key_encrypted=crypto.encrypt(keygen.secret_key, pem.decode()),
    )


def private_key(keygen: Keygen, encrypted: str) -> str:
    return crypto.decrypt(keygen.secret_key, encrypted)

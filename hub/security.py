"""Secrets at rest and API keys.

Channel credentials and signing secrets are encrypted with Fernet (AES-128-CBC + HMAC) under a
key derived from ``security.secret_key``; API keys are stored as SHA-256 digests only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["IssuedKey", "Vault", "VaultError", "hash_api_key", "issue_api_key", "new_secret"]

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes: 0/o, 1/l/i


class VaultError(Exception):
    """A stored secret cannot be decrypted: wrong ``security.secret_key`` or damaged data."""


class Vault:
    """Encrypts small JSON documents and strings with a key derived from the settings."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"hub.vault.v1", info=b"credentials"
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "Vault(<secret>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise VaultError("stored secret cannot be decrypted with this secret_key") from exc

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        if not token:
            return {}
        value = json.loads(self.decrypt(token))
        if not isinstance(value, dict):
            raise VaultError("stored credentials are not a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: ``token`` is shown once, ``prefix`` and ``key_hash`` are stored."""

    token: str
    prefix: str
    key_hash: str


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def issue_api_key(brand: str) -> IssuedKey:
    prefix = f"{brand}_{_random(8)}"
    token = f"{prefix}_{_random(32)}"  # 32 chars of 31 symbols: ~158 random bits
    return IssuedKey(token=token, prefix=prefix, key_hash=hash_api_key(token))


def hash_api_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret(prefix: str = "whsec_") -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32 bytes."""
    return prefix + base64.b64encode(secrets.token_bytes(32)).decode("ascii")

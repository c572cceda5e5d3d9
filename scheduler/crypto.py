"""Encryption of CPR numbers at rest, and the keyed digest that pseudonymises them.

Keys come from the environment (`SCHEDULER_CPR_KEYS`: Fernet keys separated by commas, the
first one encrypts, all of them decrypt), so a copy of the database file alone does not reveal
a CPR number. `configure_keys` is called once per process (app factory, CLI, tests) before the
database is used; the column type `EncryptedText` in models.py calls `encrypt`/`decrypt`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CprKeyError(RuntimeError):
    """No key configured, or a stored value that none of the keys can decrypt."""


_cipher: MultiFernet | None = None
_digest_key: bytes | None = None


def derive_key(secret: str, purpose: str) -> str:
    """A Fernet key derived from a secret (development default when no key is set)."""
    digest = hashlib.sha256(f"discharge-scheduler:{purpose}:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def parse_keys(text: str) -> list[str]:
    """'k1,k2' -> ['k1', 'k2']; ValueError naming the bad key's position."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes)") from None
    return keys


def configure_keys(keys: list[str], *, digest_secret: str) -> None:
    """Set the encryption keys (first encrypts) and the secret of the CPR digest."""
    global _cipher, _digest_key
    if not keys:
        raise CprKeyError("no CPR encryption key configured")
    _cipher = MultiFernet([Fernet(key) for key in keys])
    _digest_key = hashlib.sha256(f"cpr-digest:{digest_secret}".encode()).digest()


def is_configured() -> bool:
    return _cipher is not None and _digest_key is not None


def _require() -> MultiFernet:
    if _cipher is None:
        raise CprKeyError("CPR encryption keys are not configured (call scheduler.crypto.configure_keys)")
    return _cipher


def encrypt(plain: str) -> str:
    return _require().encrypt(plain.encode()).decode("ascii")


_UNREADABLE = ("a stored CPR number cannot be decrypted with the configured keys: SCHEDULER_CPR_KEYS must "
               "list every key that encrypted a stored number (newest first)")


def decrypt(token: str) -> str:
    try:
        return _require().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise CprKeyError(_UNREADABLE) from None


def rotate(token: str) -> str:
    """Re-encrypt a stored value with the first (newest) key."""
    try:
        return _require().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise CprKeyError(_UNREADABLE) from None


def cpr_digest(cpr: str) -> str:
    """Keyed SHA-256 of a normalised CPR number: links one patient's meetings without the number."""
    if _digest_key is None:
        raise CprKeyError("CPR digest key is not configured (call scheduler.crypto.configure_keys)")
    return hmac.new(_digest_key, cpr.encode(), hashlib.sha256).hexdigest()

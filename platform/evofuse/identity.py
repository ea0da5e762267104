"""End-user pseudonyms: raw user ids never reach the store, only an HMAC of them.

The HMAC key is the server secret `EVOFUSE_USER_HASH_SECRET`; without it, a random key is
created once in `.evofuse/user-hash.key`. Replicas that share a database must share the key
(set the variable), or the same user would count as several.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_ENV = "EVOFUSE_USER_HASH_SECRET"
DEFAULT_KEY_FILE = Path(".evofuse/user-hash.key")


def load_secret(key_file: Path = DEFAULT_KEY_FILE) -> bytes:
    value = os.environ.get(SECRET_ENV)
    if value:
        return value.encode()
    if key_file.is_file():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    # O_EXCL: two processes starting together must not each write a different key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class UserHasher:
    """Turns (tenant, user) into a stable pseudonym; the same user in two tenants differs."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else load_secret()

    def __call__(self, tenant: str | None, user: str | None) -> str | None:
        if not user:
            return None
        message = f"{tenant or ''}\x00{user}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

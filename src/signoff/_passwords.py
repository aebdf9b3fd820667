"""Reviewer passwords, hashed with argon2id (argon2-cffi), never stored in clear."""

from __future__ import annotations

from signoff._errors import UserError


def _hasher() -> object:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise UserError("reviewer passwords need argon2-cffi: pip install 'signoff[server]'") from None
    return PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise UserError("a reviewer password needs at least 8 characters")
    return str(_hasher().hash(password))  # type: ignore[attr-defined]


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    from argon2.exceptions import VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(password_hash, password))  # type: ignore[attr-defined]
    except (VerifyMismatchError, VerificationError, Exception):
        return False

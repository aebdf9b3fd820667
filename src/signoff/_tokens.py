"""API tokens: how they are made and how they are stored (hashed, never in clear).

A token is ``so_agent_...`` or ``so_rev_...`` followed by 32 random bytes (URL-safe
base64). The prefix makes a leaked token recognisable to secret scanners and tells a
human which kind it is; the store keeps only its SHA-256, which is enough for a
256-bit random secret (no slow hash needed: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from signoff._errors import UserError

__all__ = ["PREFIXES", "hash_token", "new_token"]

TokenKind = Literal["agent", "reviewer"]
PREFIXES: dict[str, str] = {"agent": "so_agent_", "reviewer": "so_rev_"}


def new_token(kind: TokenKind) -> str:
    """A fresh random token for an agent or a reviewer (show it once, store ``hash_token`` of it)."""
    try:
        prefix = PREFIXES[kind]
    except KeyError:
        raise UserError(f"unknown token kind {kind!r}: use 'agent' or 'reviewer'") from None
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of the token: what the store keeps and looks tokens up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

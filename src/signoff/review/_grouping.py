"""Group keys: similar pending tickets (same action, rule and argument shape) are decided together."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any


def _shape(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return ["list"]
    return type(value).__name__


def group_key(action_name: str, rules: Sequence[str], args: Mapping[str, Any]) -> str:
    """Readable prefix plus a digest of the rules and the argument shape (keys and types)."""
    body = repr((tuple(rules), _shape(args)))
    return f"{action_name}~{hashlib.sha256(body.encode()).hexdigest()[:10]}"

"""The root of signoff's errors and ``UserError``, apart so the model can raise them.

``_errors`` draws the whole tree and re-exports these two; they live here because
``_model`` validates actions (raising ``UserError``) while ``_errors`` refers to the
model's ``Decision``. With the root below both, neither imports the other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SignoffError", "UserError"]


class SignoffError(Exception):
    """Root of every error signoff raises on purpose."""

    def __init__(self, message: str, **attrs: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in attrs.items():
            setattr(self, key, value)
        self._attrs = attrs

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep attributes when pickled (errors cross process pools and queues).
        return (_rebuild, (type(self), self.message, self._attrs))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[SignoffError], message: str, attrs: dict[str, Any]) -> SignoffError:
    return cls(message, **attrs)


class UserError(SignoffError):
    """Raised when signoff is used wrongly (bad arguments, a sync call inside an event loop)."""

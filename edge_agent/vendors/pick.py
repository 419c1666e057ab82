"""The choices a vendor's ``valid_reply`` may ask for, so the fuzz suite can steer them.

A vendor's ``endpoint.py`` says what its documented server answers to a request
(``valid_reply(request, pick)``); the fuzz suite passes a :class:`Pick` that draws each
choice from a test-data generator, so replies vary where the documents allow and a
shrunk failure names the choice. The package itself does not depend on that generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Pick(Protocol):
    """One choice at a time, each within the bounds a vendor's documents give."""

    def text(self, *, min_size: int = 0, max_size: int = 20) -> str:
        """Any text, as a free-form field."""

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""

    def boolean(self) -> bool: ...

    def one_of(self, options: Sequence[T]) -> T:
        """One of ``options``."""

    def some_of(self, options: Sequence[T], *, max_size: int) -> list[T]:
        """A list of up to ``max_size`` of ``options``, repeats allowed."""

    def uuid_hex(self) -> str:
        """A UUID as 32 hex digits."""

    def hex_digits(self, count: int) -> str:
        """``count`` lower-case hex digits (a token)."""

    def number(self) -> Any:
        """A number as a careless server writes one: an int, a float (NaN, inf), text or null."""

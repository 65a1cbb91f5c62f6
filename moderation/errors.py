"""Errors of the domain. ``service.errors`` extends this tree and draws all of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with one input field; ``field`` is a dotted path (``policy.mode``)."""

    field: str
    problem: str


class ReplyguardError(Exception):
    """The root of every error replyguard raises on purpose."""


class InvalidInput(ReplyguardError):
    """Input that breaks the contract; carries every field that is wrong, not just the first."""

    def __init__(
        self, errors: Sequence[FieldError], detail: str = "The request has invalid fields."
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)


class InvalidPolicy(InvalidInput):
    """A policy (or an article's override of it) that cannot be applied."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(errors, "The policy has invalid fields.")

"""The types every part of replyguard speaks: statuses, decisions, actors, scores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NewType
from uuid import UUID

CommentId = NewType("CommentId", UUID)
SiteId = NewType("SiteId", str)

#: Where a comment stands. ``pending`` until the model and the policy have spoken.
Status = Literal["pending", "approved", "held", "rejected"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "held", "rejected")

#: What the policy (or a moderator) can decide.
Verdict = Literal["approved", "held", "rejected"]

#: Who moved a comment: the service itself, the model and policy, or a named moderator.
ActorKind = Literal["system", "model", "moderator"]

#: Label name (Detoxify's names: toxicity, severe_toxicity, obscene, ...) to probability.
Scores = Mapping[str, float]

#: The main label; a model with a single output calls it this.
MAIN_LABEL = "toxicity"

#: Every label a Detoxify model can emit, in Detoxify's order.
DETOXIFY_LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)


def label_order(label: str) -> tuple[int, str]:
    """A sort key: Detoxify's labels in its own order first, then any other by name."""
    known = label in DETOXIFY_LABELS
    return (DETOXIFY_LABELS.index(label) if known else len(DETOXIFY_LABELS), label)


#: What a model reads when it declares nothing: English (replyguard's default model).
DEFAULT_MODEL_LANGUAGES: tuple[str, ...] = ("en",)


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """A comment's detected language (ISO 639-1), its probability, and whether to act on it."""

    language: str | None
    confidence: float
    sure: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "detected": self.language,
            "confidence": round(self.confidence, 3),
            "sure": self.sure,
        }


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The model that produced a score: recorded with every score and decision."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Comment:
    """A reader's comment as stored, with the latest scores and decision."""

    id: CommentId
    site_id: str
    article_id: str
    parent_id: CommentId | None
    body: str
    author_name: str
    author_email: str | None
    status: Status
    created_at: datetime
    status_changed_at: datetime
    status_reason: str | None = None
    scores: dict[str, float] | None = None
    explanation: dict[str, Any] | None = None
    article_title: str | None = None
    article_url: str | None = None
    #: The public author id (hex of the author key); None once the author is erased.
    author_id: str | None = None
    #: Posted with a valid token from the site's own sign-in (SSO).
    author_verified: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One status change: who moved the comment, from what to what, and why."""

    id: int
    comment_id: CommentId
    from_status: Status | None
    to_status: Status
    actor_kind: ActorKind
    actor: str
    reason: str | None
    explanation: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ModeratorDecision:
    """A moderator's latest word on a comment, when it was to approve or reject it: what a
    site's candidate model learns from (``moderation.site_training``)."""

    comment_id: CommentId
    body: str
    verdict: Literal["approved", "rejected"]
    decided_at: datetime


# --- the author's standing (issue 12) --------------------------------------------------

#: A ban lasts until lifted; a suspension ends by itself.
SanctionKind = Literal["ban", "suspend"]
SANCTION_KINDS: tuple[SanctionKind, ...] = ("ban", "suspend")


@dataclass(frozen=True, slots=True)
class AuthorStanding:
    """What the site knows of a comment's author when the comment is decided: one more
    input to ``moderation.policy.decide``, gathered by the service."""

    verified: bool = False
    #: The author's comments on the site before this one, in any state.
    earlier_comments: int = 0
    #: The author's approved comments on the site.
    approved: int = 0
    #: The author's comments rejected in the last 90 days.
    rejected_recently: int = 0
    #: The sanction in force now (an ended suspension is none), and when it ends.
    sanction: SanctionKind | None = None
    sanction_until: datetime | None = None

"""The values the stores take and give: sites, comments, pages, principals, claimed jobs.
Plain frozen dataclasses; no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

from moderation.domain import (
    DEFAULT_MODEL_LANGUAGES,
    AuthorStanding,
    Comment,
    CommentId,
    LanguageGuess,
    ModelInfo,
    Scores,
    Status,
)
from moderation.policy import Decision, Policy, decide
from moderation.text import count_links

T = TypeVar("T")


#: Replies nest this deep in the public thread; deeper ones are not shown.
THREAD_MAX_DEPTH = 20


Role = Literal["moderator", "admin"]


QueueOrder = Literal["oldest", "score"]


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    allowed_origins: tuple[str, ...]
    policy: Policy
    created_at: datetime
    updated_at: datetime
    #: The secret the site's sign-in signs author tokens with (None: no SSO). Never shown.
    sso_secret: str | None = field(default=None, repr=False)
    sso_rotated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewComment:
    """A validated submission; the web layer has checked every field's shape and size."""

    site_id: str
    article_id: str
    body: str
    author_name: str
    author_email: str | None = None
    parent_id: CommentId | None = None
    article_url: str | None = None
    article_title: str | None = None
    #: Identifies the author across comments without keeping more than a hash.
    author_key: bytes = b""
    #: Identifies the text, to refuse the same author posting it again at once.
    body_hash: bytes = b""
    #: The author signed in on the site (a valid SSO token); author_key is then theirs.
    author_verified: bool = False


@dataclass(frozen=True, slots=True)
class Submitted:
    id: CommentId
    created_at: datetime
    #: Shown to the author at submission; only its hash is kept with the comment.
    author_token: str
    #: True when this is the stored answer to an earlier request with the same key.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ThreadItem:
    id: CommentId
    parent_id: CommentId | None
    author_name: str
    body: str
    created_at: datetime
    replies: list[ThreadItem] = field(default_factory=list)
    #: A rejected comment kept in place for the replies below it: no name, no words.
    removed: bool = False


@dataclass(frozen=True, slots=True)
class AuthorsComment:
    """A comment as its author may see it."""

    comment: Comment
    #: A comment above it still waits for moderation: an approved reply is not shown yet.
    parent_waiting: bool


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the moderator and admin API: a token's role and the sites it covers."""

    token_id: int
    role: Role
    #: None: every site (an admin).
    sites: frozenset[str] | None
    label: str

    @property
    def actor(self) -> str:
        return self.label or f"token:{self.token_id}"

    def may_see(self, site_id: str) -> bool:
        return self.sites is None or site_id in self.sites


@dataclass(frozen=True, slots=True)
class DecisionResult:
    id: CommentId
    status: Status
    changed: bool


@dataclass(frozen=True, slots=True)
class ReportResult:
    site_id: str
    #: False when this reader had already reported this comment.
    recorded: bool
    #: True when this report sent the comment back to the moderators' queue.
    held: bool


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A comment a worker holds the lease on, with what it needs to decide it."""

    comment_id: CommentId
    attempts: int
    body: str
    status: Status
    site_id: str
    article_id: str
    policy: Policy
    policy_source: Literal["site", "article"]
    standing: AuthorStanding = field(default_factory=AuthorStanding)

    def decide(
        self,
        scores: Scores,
        *,
        text: str,
        model: ModelInfo,
        language: LanguageGuess | None = None,
        model_languages: Sequence[str] = DEFAULT_MODEL_LANGUAGES,
    ) -> Decision:
        """The policy's decision on this comment given ``model``'s scores (``text`` is the
        normalised body): the live model and the shadow models are judged on the same inputs."""
        return decide(
            self.policy,
            scores,
            text=text,
            links=count_links(self.body),
            model=model,
            policy_source=self.policy_source,
            standing=self.standing,
            language=language,
            model_languages=model_languages,
        )


@dataclass(frozen=True, slots=True)
class ScoredComment:
    comment_id: CommentId
    scores: Mapping[str, float]
    decision: Decision

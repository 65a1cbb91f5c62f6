"""A site's moderation policy and the decision it makes from a comment's scores.

Precedence, first match wins (each step is a ``rule`` name stored in the explanation):

1. ``blocked_term``      a blocked term appears             -> rejected
2. ``reject_threshold``  a label's score >= its reject_at   -> rejected
3. ``pre_moderation``    mode ``pre``                       -> held
4. ``post_moderation``   mode ``post``                      -> approved
5. ``watched_term``      a watched term appears             -> held
6. ``link_limit``        more links than ``max_links``      -> held
7. ``hold_threshold``    a label's score >= its hold_at     -> held
8. ``threat_pattern``    a threat phrasing matched          -> held   (``threat_patterns: hold``)
9. ``unsupported_language``  the model does not read the
                         comment's language (sure guess)    -> held   (``unsupported_language:
                                                                       hold``; ``score``: skip)
10. ``below_thresholds`` nothing fired                      -> approved

Rules 8 and 9 only hold, never reject: a phrase list cannot tell a quotation from a threat, and
a model that cannot read a comment cannot vouch for it either way. A language guess that is
not sure (short or mixed text) never holds a comment on its own.

Rejection comes first in every mode, so raising a score can never move a comment from
rejected towards approved. Policies arrive as JSON from admins; ``Policy.from_json`` names
every field that is wrong rather than stopping at the first.

Then the author's standing (``AuthorStanding``), a separate step after the rules above:

- ``banned`` / ``suspended``: a sanction in force -> rejected, before every rule
- ``trusted_author``: ``trusted_after`` approved and none rejected in 90 days turn a
  ``hold_threshold`` hold (the model alone) into approved
- ``first_comments``: fewer than ``first_comments_held`` earlier comments turn an approval
  into held

Trust never undoes a reject, nor passes a blocked term; the first-comments rule only holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from moderation.domain import (
    DEFAULT_MODEL_LANGUAGES,
    DETOXIFY_LABELS,
    AuthorStanding,
    LanguageGuess,
    ModelInfo,
    Scores,
    Verdict,
)
from moderation.errors import FieldError, InvalidPolicy
from moderation.threats import find_threat

Mode = Literal["auto", "pre", "post"]
MODES: Final[tuple[Mode, ...]] = ("auto", "pre", "post")

Rule = Literal[
    "blocked_term",
    "reject_threshold",
    "pre_moderation",
    "post_moderation",
    "watched_term",
    "link_limit",
    "hold_threshold",
    "threat_pattern",
    "unsupported_language",
    "below_thresholds",
    # The author's standing (issue 12).
    "banned",
    "suspended",
    "first_comments",
    "trusted_author",
]

#: What the two hold-only rules may be set to: apply them, or not.
LanguageRule = Literal["hold", "score"]
LANGUAGE_RULES: Final[tuple[LanguageRule, ...]] = ("hold", "score")
ThreatRule = Literal["hold", "off"]
THREAT_RULES: Final[tuple[ThreatRule, ...]] = ("hold", "off")

MAX_TERMS: Final = 1000
MAX_TERM_CHARS: Final = 100

_POLICY_FIELDS: Final = frozenset(
    {
        "mode",
        "thresholds",
        "blocked_terms",
        "watched_terms",
        "max_links",
        "report_threshold",
        "backlog_seconds",
        "first_comments_held",
        "trusted_after",
        "unsupported_language",
        "threat_patterns",
    }
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores at or above ``hold_at`` hold a comment; at or above ``reject_at`` reject it."""

    hold_at: float | None = None
    reject_at: float | None = None


#: Used for a site that names no thresholds. Labels a model does not emit are skipped.
#: toxicity, insult, identity_attack and threat are chosen for the default model on
#: validation data (``bench/default_model.py``; figures in the README and the model card):
#: hold_at at the best F1 (insult: precision 0.8 against OLID's offensive label; threat: the
#: score that flags 0.5% of validation's harmless comments), reject_at where validation
#: precision reaches 0.95, left out where that came with almost no recall. A Detoxify model
#: scores on another scale: set its thresholds per site.
DEFAULT_THRESHOLDS: Final[Mapping[str, Thresholds]] = {
    "toxicity": Thresholds(hold_at=0.5, reject_at=0.99),
    "severe_toxicity": Thresholds(hold_at=0.3, reject_at=0.8),
    "obscene": Thresholds(hold_at=0.6, reject_at=None),
    "threat": Thresholds(hold_at=0.24, reject_at=None),
    "insult": Thresholds(hold_at=0.62, reject_at=None),
    "identity_attack": Thresholds(hold_at=0.54, reject_at=0.96),
    "sexual_explicit": Thresholds(hold_at=0.5, reject_at=None),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """What a site (or one article, by override) accepts. ``version`` grows with each change."""

    mode: Mode = "auto"
    thresholds: Mapping[str, Thresholds] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    blocked_terms: tuple[str, ...] = ()
    watched_terms: tuple[str, ...] = ()
    max_links: int | None = 2
    #: Readers' reports that send an approved comment back to the queue.
    report_threshold: int = 3
    #: Age of the oldest unscored comment past which the site is in backlog.
    backlog_seconds: int = 300
    #: An author's first N comments wait for a moderator (0: off).
    first_comments_held: int = 0
    #: N approved comments and none rejected in 90 days publish what the model would hold.
    trusted_after: int = 0
    #: ``hold``: a comment in a language the model does not read is held; ``score``: decided
    #: by its scores like any other.
    unsupported_language: LanguageRule = "hold"
    #: ``hold``: a comment matching ``moderation.threats``' patterns is held; ``off``: ignored.
    threat_patterns: ThreatRule = "hold"
    version: int = 1

    @classmethod
    def from_json(cls, data: object, *, version: int = 1, prefix: str = "policy") -> Policy:
        """Build a policy from an admin's JSON; missing fields take the defaults."""
        return cls().with_override(data, prefix=prefix, version=version)

    def with_override(
        self, data: object, *, prefix: str = "policy_override", version: int | None = None
    ) -> Policy:
        """This policy with the fields present in ``data`` replaced (an article override)."""
        if not isinstance(data, Mapping):
            raise InvalidPolicy([FieldError(prefix, "must be an object")])
        errors: list[FieldError] = [
            FieldError(f"{prefix}.{key}", "unknown field")
            for key in data
            if key not in _POLICY_FIELDS
        ]
        changes: dict[str, Any] = {}
        if "mode" in data:
            if data["mode"] in MODES:
                changes["mode"] = data["mode"]
            else:
                errors.append(FieldError(f"{prefix}.mode", f"must be one of {', '.join(MODES)}"))
        if "thresholds" in data:
            changes["thresholds"] = _parse_thresholds(
                data["thresholds"], f"{prefix}.thresholds", errors
            )
        for name in ("blocked_terms", "watched_terms"):
            if name in data:
                changes[name] = _parse_terms(data[name], f"{prefix}.{name}", errors)
        _parse_counts(data, prefix, errors, changes)
        for name, allowed in (
            ("unsupported_language", LANGUAGE_RULES),
            ("threat_patterns", THREAT_RULES),
        ):
            if name not in data:
                continue
            if data[name] in allowed:
                changes[name] = data[name]
            else:
                errors.append(FieldError(f"{prefix}.{name}", f"must be {' or '.join(allowed)}"))
        if errors:
            raise InvalidPolicy(errors)
        if version is not None:
            changes["version"] = version
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The JSON form ``from_json`` reads back (``version`` is kept beside it, not in it)."""
        return {
            "mode": self.mode,
            "thresholds": {
                label: {"hold_at": t.hold_at, "reject_at": t.reject_at}
                for label, t in self.thresholds.items()
            },
            "blocked_terms": list(self.blocked_terms),
            "watched_terms": list(self.watched_terms),
            "max_links": self.max_links,
            "report_threshold": self.report_threshold,
            "backlog_seconds": self.backlog_seconds,
            "first_comments_held": self.first_comments_held,
            "trusted_after": self.trusted_after,
            "unsupported_language": self.unsupported_language,
            "threat_patterns": self.threat_patterns,
        }


def _parse_thresholds(value: object, where: str, errors: list[FieldError]) -> dict[str, Thresholds]:
    if not isinstance(value, Mapping):
        errors.append(FieldError(where, "must be an object of label -> {hold_at, reject_at}"))
        return {}
    parsed: dict[str, Thresholds] = {}
    for label, spec in value.items():
        at = f"{where}.{label}"
        if label not in DETOXIFY_LABELS:
            errors.append(FieldError(at, f"unknown label; known: {', '.join(DETOXIFY_LABELS)}"))
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"hold_at", "reject_at"}:
            errors.append(FieldError(at, "must be an object with only hold_at and reject_at"))
            continue
        hold_at = _probability(spec.get("hold_at"), f"{at}.hold_at", errors)
        reject_at = _probability(spec.get("reject_at"), f"{at}.reject_at", errors)
        if hold_at is not None and reject_at is not None and hold_at > reject_at:
            errors.append(FieldError(at, "hold_at must not be above reject_at"))
        parsed[label] = Thresholds(hold_at=hold_at, reject_at=reject_at)
    return parsed


#: Whole-number fields: name -> (lowest, highest, whether null is allowed).
COUNTS: Final[dict[str, tuple[int, int, bool]]] = {
    "max_links": (0, 1000, True),
    "report_threshold": (1, 10_000, False),
    "backlog_seconds": (10, 86_400, False),
    "first_comments_held": (0, 1000, False),
    "trusted_after": (0, 100_000, False),
}


def _parse_counts(
    data: Mapping[str, Any], prefix: str, errors: list[FieldError], changes: dict[str, Any]
) -> None:
    for name, (low, high, nullable) in COUNTS.items():
        if name not in data:
            continue
        value = data[name]
        if (value is None and nullable) or (type(value) is int and low <= value <= high):
            changes[name] = value
        else:
            either = "null or " if nullable else ""
            errors.append(
                FieldError(f"{prefix}.{name}", f"must be {either}an integer {low}-{high}")
            )


def _probability(value: object, where: str, errors: list[FieldError]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        errors.append(FieldError(where, "must be null or a number from 0 to 1"))
        return None
    return float(value)


def _parse_terms(value: object, where: str, errors: list[FieldError]) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TERMS:
        errors.append(FieldError(where, f"must be a list of at most {MAX_TERMS} strings"))
        return ()
    terms: list[str] = []
    for i, term in enumerate(value):
        if not isinstance(term, str) or not term.strip() or len(term) > MAX_TERM_CHARS:
            errors.append(
                FieldError(f"{where}[{i}]", f"must be text of 1-{MAX_TERM_CHARS} characters")
            )
        else:
            terms.append(" ".join(term.casefold().split()))
    return tuple(dict.fromkeys(terms))


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict and the explanation stored with it (JSON-safe)."""

    verdict: Verdict
    rule: Rule
    explanation: dict[str, Any]


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The terms that occur in ``text`` as whole words, case-insensitively."""
    folded = " ".join(text.casefold().split())
    return [t for t in terms if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", folded)]


def decide(
    policy: Policy,
    scores: Scores,
    *,
    text: str,
    links: int,
    model: ModelInfo,
    policy_source: Literal["site", "article"] = "site",
    standing: AuthorStanding | None = None,
    language: LanguageGuess | None = None,
    model_languages: Sequence[str] = DEFAULT_MODEL_LANGUAGES,
) -> Decision:
    """Apply ``policy`` to one scored comment. ``text`` is the normalised text; ``standing``
    is its author's, when the service knows it (then the trust rules and sanctions apply).

    ``language`` is the comment's detected language (None: not detected, so the language
    rule cannot fire) and ``model_languages`` those the scoring model reads.
    """
    labels = [
        _label_row(label, scores.get(label), policy.thresholds.get(label))
        for label in _label_order(policy, scores)
    ]
    blocked = find_terms(text, policy.blocked_terms)
    watched = find_terms(text, policy.watched_terms)
    over_links = policy.max_links is not None and links > policy.max_links
    threat = find_threat(text) if policy.threat_patterns == "hold" else None
    unsupported = (
        language is not None
        and language.sure
        and language.language not in model_languages
        and policy.unsupported_language == "hold"
    )
    rejecting = [row for row in labels if row["outcome"] == "reject"]
    holding = [row for row in labels if row["outcome"] == "hold"]

    verdict: Verdict
    rule: Rule
    if blocked:
        verdict, rule, reason = "rejected", "blocked_term", f"blocked term: {', '.join(blocked)}"
    elif rejecting:
        verdict, rule, reason = "rejected", "reject_threshold", _crossed(rejecting, "reject_at")
    elif policy.mode == "pre":
        verdict, rule, reason = "held", "pre_moderation", "pre-moderation: every comment is held"
    elif policy.mode == "post":
        verdict, rule, reason = (
            "approved",
            "post_moderation",
            "post-moderation: published unless rejected",
        )
    elif watched:
        verdict, rule, reason = "held", "watched_term", f"watched term: {', '.join(watched)}"
    elif over_links:
        verdict, rule, reason = "held", "link_limit", f"{links} links, limit {policy.max_links}"
    elif holding:
        verdict, rule, reason = "held", "hold_threshold", _crossed(holding, "hold_at")
    elif threat:
        verdict, rule, reason = "held", "threat_pattern", f"threat phrasing: {threat}"
    elif unsupported and language is not None:
        verdict, rule, reason = (
            "held",
            "unsupported_language",
            f"written in {language.language} (confidence {language.confidence:.2f}); the model "
            f"reads {', '.join(model_languages)}",
        )
    else:
        verdict, rule, reason = "approved", "below_thresholds", "no rule fired"

    explanation: dict[str, Any] = {
        "verdict": verdict,
        "rule": rule,
        "reason": reason,
        "mode": policy.mode,
        "labels": labels,
        "matched_terms": {"blocked": blocked, "watched": watched},
        "links": {"count": links, "max": policy.max_links},
        "threat_pattern": threat,
        "language": {
            **(language.to_json() if language else {"detected": None, "confidence": None}),
            "model_languages": list(model_languages),
            "rule": policy.unsupported_language,
        },
        "model": {"name": model.name, "version": model.version},
        "policy_version": policy.version,
        "policy_source": policy_source,
    }
    decision = Decision(verdict=verdict, rule=rule, explanation=explanation)
    if standing is None:
        return decision
    return apply_standing(policy, decision, standing)


# --- the author's standing (issue 12) ----------------------------------------------------


def apply_standing(policy: Policy, decision: Decision, standing: AuthorStanding) -> Decision:
    """The decision after the author's standing: sanctions first, then trust, then the
    first-comments rule. The explanation gains ``author`` and, where a rule fired, its
    verdict, rule and reason replace the ones before (kept as ``before``)."""
    verdict, rule, reason = decision.verdict, decision.rule, None
    if standing.sanction == "ban":
        verdict, rule, reason = "rejected", "banned", "the author is banned from this site"
    elif standing.sanction == "suspend":
        until = standing.sanction_until.isoformat() if standing.sanction_until else "later"
        verdict, rule, reason = "rejected", "suspended", f"the author is suspended until {until}"
    elif _trusted(policy, standing) and rule == "hold_threshold":
        verdict, rule = "approved", "trusted_author"
        reason = (
            f"trusted author: {standing.approved} approved, none rejected in 90 days "
            f"(trusted_after {policy.trusted_after}); the model would have held it"
        )
    if verdict == "approved" and standing.earlier_comments < policy.first_comments_held:
        verdict, rule = "held", "first_comments"
        reason = (
            f"one of the author's first {policy.first_comments_held} comments "
            f"({standing.earlier_comments} before this one)"
        )
    explanation = {**decision.explanation, "author": _standing_json(policy, standing)}
    if reason is not None:
        explanation["before"] = {"verdict": decision.verdict, "rule": decision.rule}
        explanation.update(verdict=verdict, rule=rule, reason=reason)
    return Decision(verdict=verdict, rule=rule, explanation=explanation)


def _trusted(policy: Policy, standing: AuthorStanding) -> bool:
    return (
        policy.trusted_after > 0
        and standing.approved >= policy.trusted_after
        and standing.rejected_recently == 0
    )


def _standing_json(policy: Policy, standing: AuthorStanding) -> dict[str, Any]:
    return {
        "verified": standing.verified,
        "earlier_comments": standing.earlier_comments,
        "approved": standing.approved,
        "rejected_recently": standing.rejected_recently,
        "trusted": _trusted(policy, standing),
        "sanction": standing.sanction,
        "sanction_until": standing.sanction_until.isoformat() if standing.sanction_until else None,
    }


def _label_order(policy: Policy, scores: Scores) -> list[str]:
    seen = [label for label in DETOXIFY_LABELS if label in scores or label in policy.thresholds]
    extra = sorted(set(scores) - set(seen))
    return seen + extra


def _label_row(label: str, score: float | None, limits: Thresholds | None) -> dict[str, Any]:
    hold_at = limits.hold_at if limits else None
    reject_at = limits.reject_at if limits else None
    if score is None or math.isnan(score):
        outcome = "not_scored"
        score = None
    elif reject_at is not None and score >= reject_at:
        outcome = "reject"
    elif hold_at is not None and score >= hold_at:
        outcome = "hold"
    else:
        outcome = "pass"
    return {
        "label": label,
        "score": score,
        "hold_at": hold_at,
        "reject_at": reject_at,
        "outcome": outcome,
    }


def _crossed(rows: Sequence[dict[str, Any]], limit: str) -> str:
    return "; ".join(f"{r['label']} {r['score']:.2f} >= {limit} {r[limit]:.2f}" for r in rows)


def max_score(scores: Scores) -> float:
    """The highest label score: the queue's "highest score first" order."""
    return max((float(v) for v in scores.values()), default=0.0)


__all__ = [
    "COUNTS",
    "DEFAULT_THRESHOLDS",
    "LANGUAGE_RULES",
    "MAX_TERMS",
    "MAX_TERM_CHARS",
    "MODES",
    "THREAT_RULES",
    "Decision",
    "Mode",
    "Policy",
    "Rule",
    "Thresholds",
    "apply_standing",
    "decide",
    "find_terms",
    "max_score",
]

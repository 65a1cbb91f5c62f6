"""A shadow model against the moderators, beside the live model on the same comments."""

from __future__ import annotations

from moderation.comparison import ModeratedComment, against_moderators, share


def test_against_moderators__agreement_reads_publish_or_not_and_auc_ranks_rejections() -> None:
    comments = [
        # Held by the shadow, rejected by the moderators: agreeing (not published either way).
        ModeratedComment(True, "held", 0.8, "approved", 0.1),
        ModeratedComment(False, "approved", 0.1, "held", 0.5),
        ModeratedComment(True, "rejected", 0.99, "rejected", 0.99),
        # Decided by a moderator before the live model: the shadow's figures only.
        ModeratedComment(False, "held", 0.3, None, None),
    ]
    assert against_moderators(comments) == {
        "decided": 4,
        "rejected": 2,
        "agreeing": 3,
        "agreement": 0.75,
        "roc_auc": 1.0,
        "live": {"compared": 3, "agreeing": 1, "agreement": 0.3333, "roc_auc": 0.5},
    }


def test_against_moderators__says_none_where_there_is_nothing_to_measure() -> None:
    assert against_moderators([]) == {
        "decided": 0,
        "rejected": 0,
        "agreeing": 0,
        "agreement": None,
        "roc_auc": None,
        "live": {"compared": 0, "agreeing": 0, "agreement": None, "roc_auc": None},
    }
    # Only rejections: no ROC-AUC until the moderators have approved one too.
    only_rejected = against_moderators([ModeratedComment(True, "held", 0.5, "held", 0.5)])
    assert (only_rejected["agreement"], only_rejected["roc_auc"]) == (1.0, None)
    assert share(2, 3) == 0.6667

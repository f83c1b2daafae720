"""People's judgements of a job's sampled holdout answers: checked, then summarised for the report.

A judgement names one example of the report's error-analysis sample (by its line) and gives a
verdict on the adapter's answer against the k-shot prompt's (better, worse, same), a 1-5 rating of
the adapter's answer, or both. Each reviewer has one judgement per example; judging again
replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.errors import InvalidRequest

VERDICTS = ("better", "worse", "same")
MAX_REVIEWS_PER_CALL = 1000
MAX_REVIEWER_CHARS = 64
MAX_NOTE_CHARS = 1000


def check_reviews(reviews: Sequence[dict[str, Any]], example_lines: Sequence[int]) -> list[dict[str, Any]]:
    """The reviews, validated against the lines of the report's sample; InvalidRequest names the first bad field."""
    if not reviews:
        raise InvalidRequest("reviews", "is empty; give at least one judgement")
    if len(reviews) > MAX_REVIEWS_PER_CALL:
        raise InvalidRequest("reviews", f"has {len(reviews)} judgements; at most {MAX_REVIEWS_PER_CALL} per call")
    known = set(example_lines)
    checked = []
    for i, review in enumerate(reviews):
        where = f"reviews[{i}]"
        if review["line"] not in known:
            shown = ", ".join(str(line) for line in sorted(known)[:20])
            raise InvalidRequest(f"{where}.line", f"{review['line']} is not one of the report's sampled examples (lines {shown})")
        if review["verdict"] not in ("", *VERDICTS):
            raise InvalidRequest(f"{where}.verdict", f"must be one of {', '.join(VERDICTS)} (or empty), got {review['verdict'][:20]!r}")
        if not 0 <= review["rating"] <= 5:
            raise InvalidRequest(f"{where}.rating", f"must be 1 to 5 (0: none), got {review['rating']}")
        if not review["verdict"] and not review["rating"]:
            raise InvalidRequest(where, "gives neither a verdict nor a rating")
        reviewer = review["reviewer"].strip() or "anonymous"
        if len(reviewer) > MAX_REVIEWER_CHARS or not reviewer.isprintable():
            raise InvalidRequest(f"{where}.reviewer", f"must be printable text of at most {MAX_REVIEWER_CHARS} characters")
        if len(review["note"]) > MAX_NOTE_CHARS:
            raise InvalidRequest(f"{where}.note", f"has {len(review['note'])} characters; at most {MAX_NOTE_CHARS}")
        checked.append({**review, "reviewer": reviewer})
    return checked


def summarize(reviews: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts of verdicts, the mean rating, and how many people reviewed."""
    ratings = [r["rating"] for r in reviews if r["rating"]]
    summary: dict[str, Any] = {
        "reviews": len(reviews),
        "reviewers": len({r["reviewer"] for r in reviews}),
        **{verdict: sum(r["verdict"] == verdict for r in reviews) for verdict in VERDICTS},
    }
    if ratings:
        summary["mean_rating"] = sum(ratings) / len(ratings)
    return summary

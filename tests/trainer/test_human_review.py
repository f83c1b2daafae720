"""People's judgements of a job's answers: validation, the summary, and their SQLite storage."""

from __future__ import annotations

import pytest

from common.errors import InvalidRequest
from trainer.evaluation.human_review import check_reviews, summarize
from trainer.jobs.records import JobStore


def review(line: int, verdict: str = "", rating: int = 0, reviewer: str = "ana", note: str = "") -> dict:
    return {"line": line, "verdict": verdict, "rating": rating, "reviewer": reviewer, "note": note}


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ([], "reviews", "is empty"),
        ([review(7, "better")], "reviews[0].line", "not one of the report's sampled examples"),
        ([review(1, "great")], "reviews[0].verdict", "must be one of better, worse, same"),
        ([review(1, rating=6)], "reviews[0].rating", "must be 1 to 5"),
        ([review(1)], "reviews[0]", "neither a verdict nor a rating"),
        ([review(1, "same", reviewer="x" * 65)], "reviews[0].reviewer", "at most 64"),
        ([review(1, "same", note="n" * 1001)], "reviews[0].note", "at most 1000"),
    ],
)
def test_bad_judgements_are_refused_naming_the_field(given, field, words):
    with pytest.raises(InvalidRequest, match=words) as info:
        check_reviews(given, [1, 2, 3])
    assert info.value.field == field


def test_the_summary_counts_verdicts_and_averages_ratings():
    reviews = check_reviews(
        [review(1, "better", 5), review(2, "worse"), review(1, "better", 3, reviewer="bob"), review(3, rating=1, reviewer="")], [1, 2, 3]
    )
    assert reviews[-1]["reviewer"] == "anonymous"
    assert summarize(reviews) == {"reviews": 4, "reviewers": 3, "better": 2, "worse": 1, "same": 0, "mean_rating": 3.0}
    assert summarize([]) == {"reviews": 0, "reviewers": 0, "better": 0, "worse": 0, "same": 0}


def test_judgements_survive_a_restart_and_a_second_judgement_replaces_the_first(tmp_path):
    store = JobStore.open(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    job = store.create("fruit", {"adapter_name": "fruit"})
    store.add_reviews(job.id, [review(1, "better", 4), review(2, "same", reviewer="bob")])
    store.add_reviews(job.id, [review(1, "worse", 2)])  # ana changes her mind about line 1
    store.close()
    reopened = JobStore.open(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    assert reopened.reviews(job.id) == [review(1, "worse", 2), review(2, "same", reviewer="bob")]

"""Choosing and ordering demonstrations within a token budget, and the TF-IDF similarity."""

import pytest

from common.errors import InvalidRequest
from common.task_spec import Demonstration, TaskSpec, prompt_ids, render_prompt
from server.tasks.few_shot import build, order, select, tfidf_similarities


def test_first_keeps_the_given_order_while_the_budget_lasts():
    assert select([10, 10, 10, 10], 30, "first") == [0, 1, 2]
    assert select([10, 10, 10, 10], 100, "first") == [0, 1, 2, 3]
    assert select([10, 10, 10], 5, "first") == []


def test_a_long_demonstration_does_not_crowd_out_shorter_ones():
    assert select([10, 50, 10, 10], 35, "first") == [0, 2, 3]


def test_max_count_caps_the_selection():
    assert select([1, 1, 1, 1], 100, "first", max_count=2) == [0, 1]


def test_random_is_seeded():
    costs = [1] * 10
    a = select(costs, 4, "random", seed=3)
    assert a == select(costs, 4, "random", seed=3) and len(a) == 4
    assert a != select(costs, 4, "random", seed=4)


def test_similar_picks_the_most_similar_first_and_orders_them_last():
    sims = [0.1, 0.9, 0.5, 0.7]
    chosen = select([5, 5, 5, 5], 15, "similar", sims)
    assert chosen == [1, 3, 2]
    assert order(chosen, "as_given") == [1, 2, 3]
    assert order(chosen, "most_similar_last", sims) == [2, 3, 1]


def test_tfidf_prefers_shared_rare_words():
    sims = tfidf_similarities("the pasta was cold", ["the movie was long", "cold pasta again", "pizza night"])
    assert sims[1] > sims[0] > sims[2] == 0.0
    assert tfidf_similarities("", ["a"]) == [0.0]


def test_building_stays_within_the_budget_and_reports_what_it_used(base_model):
    tok = base_model.tokenizer
    spec = TaskSpec(name="t", instruction="Translate to French.")
    demos = [Demonstration(input=f"word number {i}", output=f"mot numéro {i}") for i in range(30)]
    bare = len(prompt_ids(tok, render_prompt(tok, spec, "cat")))
    one = len(prompt_ids(tok, render_prompt(tok, spec, "cat", demos[:1]))) - bare
    budget = bare + 3 * one + one // 2
    built = build(tok, spec, "cat", demos, budget)
    assert built.used == [0, 1, 2] and len(built.token_ids) <= budget
    assert built.text == render_prompt(tok, spec, "cat", demos[:3])
    everything = build(tok, spec, "cat", demos, 10_000)
    assert everything.used == list(range(30))
    assert build(tok, spec, "cat", [], 10_000).used == []
    with pytest.raises(InvalidRequest, match="over the budget"):
        build(tok, spec, "cat " * 400, demos, 200)

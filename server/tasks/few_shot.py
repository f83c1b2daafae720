"""Few-shot prompts: which demonstrations fit the token budget, and in what order.

Selection and ordering are pure functions of per-demonstration token costs and similarities, so
they are tested without a model. Similarity is lexical: the cosine of TF-IDF vectors of the
demonstration input's words and the query's words, with IDF over the demonstrations and the query.
It costs microseconds and needs no model call; an embedding from the model's hidden states would
cost a forward pass per demonstration per request.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from common.errors import InvalidRequest
from common.task_spec import Demonstration, TaskSpec, prompt_ids, render_prompt

Strategy = Literal["first", "random", "similar"]
Ordering = Literal["as_given", "most_similar_last"]
_WORD = re.compile(r"\w+")


def tfidf_similarities(query: str, texts: Sequence[str]) -> list[float]:
    """Cosine similarity of each text's TF-IDF word vector to the query's."""
    docs = [Counter(w.lower() for w in _WORD.findall(t)) for t in texts]
    q = Counter(w.lower() for w in _WORD.findall(query))
    n = len(docs) + 1
    df = Counter(w for d in [*docs, q] for w in d)
    idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}

    def vector(counts: Counter[str]) -> dict[str, float]:
        return {w: c * idf[w] for w, c in counts.items()}

    qv = vector(q)
    q_norm = math.sqrt(sum(v * v for v in qv.values())) or 1.0
    scores = []
    for d in docs:
        dv = vector(d)
        d_norm = math.sqrt(sum(v * v for v in dv.values())) or 1.0
        scores.append(sum(qv.get(w, 0.0) * v for w, v in dv.items()) / (q_norm * d_norm))
    return scores


def select(
    costs: Sequence[int], budget: int, strategy: Strategy, similarities: Sequence[float] = (), seed: int = 0, max_count: int = 0
) -> list[int]:
    """Indices of the demonstrations to keep, in the order they were chosen.

    Candidates are taken in the strategy's order (given, seeded shuffle, or most similar first);
    each is kept if its cost still fits the budget, so one long demonstration does not crowd out
    shorter ones behind it.
    """
    candidates = list(range(len(costs)))
    if strategy == "random":
        random.Random(seed).shuffle(candidates)
    elif strategy == "similar":
        candidates.sort(key=lambda i: (-similarities[i], i))
    chosen: list[int] = []
    spent = 0
    for i in candidates:
        if max_count and len(chosen) >= max_count:
            break
        if spent + costs[i] <= budget:
            chosen.append(i)
            spent += costs[i]
    return chosen


def order(chosen: Sequence[int], ordering: Ordering, similarities: Sequence[float] = ()) -> list[int]:
    """Prompt order: as given, or ascending similarity so that the most similar comes last."""
    if ordering == "most_similar_last":
        return sorted(chosen, key=lambda i: (similarities[i], -i))
    return sorted(chosen)


@dataclass(frozen=True)
class FewShot:
    text: str
    token_ids: list[int]
    used: list[int]  # indices of the demonstrations in the prompt, in prompt order


def build(
    tokenizer: Any,
    spec: TaskSpec,
    query: str,
    demonstrations: Sequence[Demonstration],
    budget: int,
    strategy: Strategy = "first",
    ordering: Ordering = "as_given",
    seed: int = 0,
    max_count: int = 0,
    query_field: str = "query",
) -> FewShot:
    """The prompt for `query` with as many demonstrations as fit `budget` tokens."""
    bare = prompt_ids(tokenizer, render_prompt(tokenizer, spec, query))
    if len(bare) > budget:
        raise InvalidRequest(
            query_field,
            f"the prompt without demonstrations has {len(bare)} tokens, over the budget of {budget}; shorten it or the instruction",
        )
    costs = [len(prompt_ids(tokenizer, render_prompt(tokenizer, spec, query, [d]))) - len(bare) for d in demonstrations]
    similarities = (
        tfidf_similarities(query, [d.input for d in demonstrations]) if strategy == "similar" or ordering == "most_similar_last" else []
    )
    chosen = select(costs, budget - len(bare), strategy, similarities, seed, max_count)
    while True:  # costs are measured one at a time; re-check the whole prompt and drop the last pick if needed
        used = order(chosen, ordering, similarities)
        text = render_prompt(tokenizer, spec, query, [demonstrations[i] for i in used])
        ids = prompt_ids(tokenizer, text)
        if len(ids) <= budget or not chosen:
            return FewShot(text, ids, used)
        chosen.pop()

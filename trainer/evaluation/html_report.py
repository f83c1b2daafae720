"""A training job's report as one self-contained HTML file: no external assets, works offline.

Sections: the summary, the loss curve (the PNG inlined), the metric tables, a confusion-matrix
heatmap per system (classification), the error analysis (every system's answer side by side,
filterable by category, with a verdict and rating a person can pick per example and export as a
JSON file for `tuneserve train review --import`), the human review so far, and what was dropped
from the data. Each section's heading carries its
own marker colour, which the screenshot test looks for in the rendered page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

# marker colours of the section headings (the screenshot test finds each in the rendered page)
SECTION_COLOURS = {
    "summary": (214, 40, 160),
    "loss": (40, 170, 90),
    "metrics": (230, 150, 20),
    "confusion": (120, 60, 200),
    "errors": (200, 30, 30),
    "review": (150, 110, 40),
    "data": (20, 150, 170),
}
SYSTEMS = (("base_zero_shot", "zero-shot", "zero_shot"), ("base_icl", "k-shot", "icl"), ("adapter", "adapter", "adapter"))
CATEGORY_NAMES = {
    "fixed": "fixed by the adapter",
    "broken": "broken by the adapter",
    "wrong_all": "wrong for all",
    "right_all": "right for all",
    "other": "other",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 24px; }
h2 { font-size: 19px; padding: 4px 10px; margin-top: 28px; border-left: 14px solid; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; font-size: 13px; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.headline { font-size: 17px; }
.heatmaps { display: flex; gap: 24px; flex-wrap: wrap; }
.heat td { width: 56px; height: 40px; text-align: center; font-weight: 600; }
.filters button { margin: 0 6px 8px 0; padding: 4px 10px; border: 1px solid #888; background: #fff; cursor: pointer; }
.filters button.on { background: #333; color: #fff; }
tr.hidden { display: none; }
.tag { display: inline-block; background: #eee; border-radius: 3px; padding: 0 4px; margin-right: 3px; font-size: 11px; }
.right { color: #17803d; } .wrong { color: #b42318; }
"""

SCRIPT = """
function exportJudgements(job) {
  const picked = [];
  document.querySelectorAll('tr[data-line]').forEach(r => {
    const verdict = r.querySelector('select.verdict').value, rating = Number(r.querySelector('select.rating').value);
    if (verdict || rating) picked.push({line: Number(r.dataset.line), verdict: verdict, rating: rating});
  });
  const blob = new Blob([JSON.stringify(picked, null, 1)], {type: 'application/json'});
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = 'judgements-' + job + '.json';
  link.click();
}
function show(category) {
  document.querySelectorAll('.filters button').forEach(b => b.classList.toggle('on', b.dataset.category === category));
  document.querySelectorAll('tr[data-category]').forEach(r =>
    r.classList.toggle('hidden', category !== 'all' && r.dataset.category !== category));
}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _heading(section: str, title: str) -> str:
    r, g, b = SECTION_COLOURS[section]
    return f'<h2 id="{section}" style="border-left-color: rgb({r}, {g}, {b})">{_e(title)}</h2>'


def _summary(report: dict[str, Any], job: dict[str, Any]) -> str:
    metric = report["metric"]
    scores = {key: report[key].get(metric) for key, _, _ in SYSTEMS}
    rows = "".join(f"<tr><th>{_e(name)}</th><td class='num'>{_pct(scores[key])}</td></tr>" for key, name, _ in SYSTEMS)
    verdict = "beats" if report.get("adapter_beats_icl") else "does not beat"
    shots = report["base_icl"].get("shots", 0)
    facts = [
        ("job", job.get("id", "")),
        ("adapter", job.get("published_adapter") or job.get("adapter_name", "")),
        ("holdout examples", report["holdout_examples"]),
        ("validation loss", _num(report.get("validation_loss"))),
    ]
    if job.get("publish_note"):
        facts.append(("not published", job["publish_note"]))
    fact_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return (
        _heading("summary", "Summary") + f"<p class='headline'>The adapter {verdict} {shots}-shot prompting of the base model by "
        f"<b>{100 * report.get('margin', 0.0):+.1f} points</b> of {_e(metric.replace('_', ' '))}.</p>"
        + f"<table><tr><th>system</th><th>{_e(metric.replace('_', ' '))}</th></tr>{rows}</table>"
        + f"<table>{fact_rows}</table>"
    )


def _loss(loss_png: bytes | None) -> str:
    if not loss_png:
        return _heading("loss", "Loss curve") + "<p>No loss curve was recorded.</p>"
    data = base64.b64encode(loss_png).decode()
    return _heading("loss", "Loss curve") + f'<img alt="loss curve" width="700" src="data:image/png;base64,{data}">'


def _metrics(report: dict[str, Any]) -> str:
    classification = report["metric"] == "accuracy"
    if classification:
        columns = [("accuracy", _pct), ("macro_f1", _pct), ("calibration_error", _num)]
    else:
        columns = [("exact_match", _pct), ("token_f1", _pct), ("length_ratio", _num)]
        columns += [("repetition_rate", _pct), ("empty", _pct), ("truncated", _pct)]
    head = "".join(f"<th>{_e(name.replace('_', ' '))}</th>" for name, _ in columns)
    body = ""
    for key, name, _ in SYSTEMS:
        result = report[key]
        cells = "".join(f"<td class='num'>{fmt(result.get(field))}</td>" for field, fmt in columns)
        body += f"<tr><th>{_e(name)}</th>{cells}</tr>"
    out = _heading("metrics", "Metrics") + f"<table><tr><th>system</th>{head}</tr>{body}</table>"
    if classification:
        for key, name, _ in SYSTEMS:
            rows = "".join(
                f"<tr><td>{_e(m['label'])}</td><td class='num'>{_pct(m['precision'])}</td><td class='num'>{_pct(m['recall'])}</td>"
                f"<td class='num'>{_pct(m['f1'])}</td><td class='num'>{m['support']}</td></tr>"
                for m in report[key].get("per_label", [])
            )
            out += (
                f"<h3>{_e(name)}: per label</h3><table><tr><th>label</th><th>precision</th><th>recall</th>"
                f"<th>F1</th><th>support</th></tr>{rows}</table>"
            )
    return out


def _heat_colour(share: float) -> str:
    # white to dark blue; text turns white on the dark end
    r, g, b = (round(255 - share * (255 - c)) for c in (8, 48, 107))
    return f"background: rgb({r}, {g}, {b}); color: {'#fff' if share > 0.5 else '#222'}"


def _confusion(report: dict[str, Any]) -> str:
    labels: Sequence[str] = report.get("labels", [])
    if not labels:
        return ""
    maps = ""
    for key, name, _ in SYSTEMS:
        matrix = [row["counts"] for row in report[key].get("confusion", [])]
        if not matrix:
            continue
        top = max(max(row) for row in matrix) or 1
        head = "".join(f"<th>{_e(label)}</th>" for label in labels)
        body = ""
        for label, row in zip(labels, matrix, strict=True):
            cells = "".join(f"<td style='{_heat_colour(count / top)}'>{count}</td>" for count in row)
            body += f"<tr><th>{_e(label)}</th>{cells}</tr>"
        maps += f"<div><h3>{_e(name)}</h3><table class='heat'><tr><th>true \\ answered</th>{head}</tr>{body}</table></div>"
    return _heading("confusion", "Confusion matrices") + f"<div class='heatmaps'>{maps}</div>"


JUDGE = (
    "<td><select class='verdict'><option value=''>-</option><option>better</option><option>worse</option>"
    "<option>same</option></select> <select class='rating'><option value='0'>-</option>"
    + "".join(f"<option>{n}</option>" for n in range(1, 6))
    + "</select></td>"
)


def _errors(report: dict[str, Any], job_id: str) -> str:
    examples = report.get("examples", [])
    counts: dict[str, int] = {}
    for example in examples:
        counts[example["category"]] = counts.get(example["category"], 0) + 1
    buttons = f"<button class='on' data-category='all' onclick=\"show('all')\">all ({len(examples)})</button>"
    buttons += "".join(
        f"<button data-category='{c}' onclick=\"show('{c}')\">{_e(CATEGORY_NAMES[c])} ({n})</button>"
        for c, n in sorted(counts.items(), key=lambda item: list(CATEGORY_NAMES).index(item[0]))
    )
    rows = ""
    for example in examples:
        answers = ""
        for _, _, field in SYSTEMS:
            answer = example[field]
            right = answer.strip().lower() == example["reference"].strip().lower()
            answers += f"<td class='{'right' if right else 'wrong'}'>{_e(answer)}</td>"
        tags = "".join(f"<span class='tag'>{_e(t)}</span>" for t in example.get("tags", []))
        rows += (
            f"<tr data-category='{_e(example['category'])}' data-line='{example['line']}'><td class='num'>{example['line']}</td>"
            f"<td>{_e(CATEGORY_NAMES.get(example['category'], example['category']))} {tags}</td>"
            f"<td>{_e(example['input'])}</td><td>{_e(example['reference'])}</td>{answers}{JUDGE}</tr>"
        )
    return (
        _heading("errors", "Error analysis")
        + "<p>A sample of holdout examples, every system's answer side by side (green: matches the reference).</p>"
        + f"<div class='filters'>{buttons}</div>"
        + "<table><tr><th>line</th><th>category</th><th>input</th><th>reference</th><th>zero-shot</th>"
        + f"<th>k-shot</th><th>adapter</th><th>adapter vs k-shot, rating</th></tr>{rows}</table>"
        + f"<p><button onclick=\"exportJudgements('{_e(job_id)}')\">Export judgements</button> "
        + f"then <code>tuneserve train review {_e(job_id)} --import judgements-{_e(job_id)}.json --reviewer NAME</code></p>"
    )


def _review(reviews: Sequence[dict[str, Any]]) -> str:
    from trainer.evaluation.human_review import VERDICTS, summarize

    out = _heading("review", "Human review")
    if not reviews:
        return (
            out
            + "<p>No judgements yet: pick them in the error analysis above and export them, or use <code>tuneserve train review</code>.</p>"
        )
    summary = summarize(reviews)
    counts = "".join(f"<tr><th>adapter {v} than k-shot</th><td class='num'>{summary[v]}</td></tr>" for v in VERDICTS)
    rating = _num(summary.get("mean_rating"), 2)
    out += (
        f"<table><tr><th>judgements</th><td class='num'>{summary['reviews']}</td></tr>"
        f"<tr><th>reviewers</th><td class='num'>{summary['reviewers']}</td></tr>{counts}"
        f"<tr><th>mean rating of the adapter (1-5)</th><td class='num'>{rating}</td></tr></table>"
    )
    rows = "".join(
        f"<tr><td class='num'>{r['line']}</td><td>{_e(r['reviewer'])}</td><td>{_e(r['verdict'] or '-')}</td>"
        f"<td class='num'>{r['rating'] or '-'}</td><td>{_e(r['note'])}</td></tr>"
        for r in reviews
    )
    return out + f"<table><tr><th>line</th><th>reviewer</th><th>verdict</th><th>rating</th><th>note</th></tr>{rows}</table>"


def _data(report: dict[str, Any]) -> str:
    notes = report.get("data") or {}
    items = [f"{notes.get('duplicates_dropped', 0)} exact duplicate examples dropped"]
    if notes.get("duplicates"):
        items[-1] += ": " + "; ".join(notes["duplicates"])
    items.append(f"{notes.get('holdout_overlap_dropped', 0)} holdout examples dropped because they are also training examples")
    if notes.get("holdout_overlap_lines"):
        items[-1] += " (holdout lines " + ", ".join(str(line) for line in notes["holdout_overlap_lines"]) + ")"
    return _heading("data", "Data") + "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def render(report: dict[str, Any], job: dict[str, Any], loss_png: bytes | None, reviews: Sequence[dict[str, Any]] = ()) -> str:
    """The whole page; `report` is an EvalReport dump (with margin), `job` names the job and adapter,
    `reviews` are people's judgements so far (trainer.evaluation.human_review)."""
    title = f"Training report: {job.get('adapter_name', '')} ({job.get('id', '')})"
    body = _summary(report, job) + _loss(loss_png) + _metrics(report) + _confusion(report)
    body += _errors(report, str(job.get("id", ""))) + _review(reviews) + _data(report)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body><h1>{_e(title)}</h1>{body}</body></html>"
    )

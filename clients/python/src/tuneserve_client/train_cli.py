"""`tuneserve train ...`: submit a training job, watch it with a progress bar, read its report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tuneserve.v1 import trainer_pb2

from tuneserve_client.cli_connection import client_options
from tuneserve_client.client import Client

DEFAULT_TRAINER = "127.0.0.1:50052"


def state_name(state: int) -> str:
    return trainer_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def report_table(job: trainer_pb2.Job, detailed: bool = False) -> str:
    """The evaluation report as a small table: is the adapter better than few-shot prompting?

    `detailed` adds the per-label metrics, confusion matrices or generation metrics, the error
    analysis counts and what was dropped from the data."""
    report = job.report
    if not report.metric:
        return "no evaluation report"
    metric = report.metric
    rows = [
        ("base model, zero-shot", report.base_zero_shot),
        (f"base model, {report.base_icl.shots}-shot prompt", report.base_icl),
        ("adapter", report.adapter),
    ]
    extra = " token F1" if metric == "exact_match" else ""
    lines = [f"{'holdout: ' + str(report.holdout_examples) + ' examples':<34} {metric:>12}{extra}"]
    for name, result in rows:
        value = getattr(result, metric) if result.HasField(metric) else None
        f1 = f" {_percent(result.token_f1):>9}" if metric == "exact_match" else ""
        lines.append(f"{name:<34} {_percent(value):>12}{f1}")
    verdict = "beats" if report.adapter_beats_icl else "does not beat"
    lines.append(f"the adapter {verdict} {report.base_icl.shots}-shot prompting by {100 * report.margin:+.1f} points")
    if report.HasField("validation_loss"):
        lines.append(f"validation loss (completion tokens): {report.validation_loss:.4f}")
    if report.forgetting.questions:
        probe = report.forgetting
        lines.append(
            f"forgetting probe ({probe.name}, {probe.questions} questions): base "
            f"{_percent(probe.base_accuracy)}, adapter {_percent(probe.adapter_accuracy)}"
        )
    if job.published_adapter:
        lines.append(f"published {job.published_adapter} (its directory in the store holds loss_curve.png and report.html)")
    elif job.publish_note:
        lines.append(f"not published: {job.publish_note}")
    if detailed:
        lines += _details(report, rows)
    return "\n".join(lines)


def _details(report: trainer_pb2.EvalReport, rows: list[tuple[str, Any]]) -> list[str]:
    lines = [""]
    if report.metric == "accuracy":
        lines.append(f"{'':<34} {'macro F1':>12} {'calibration':>12}")
        for name, result in rows:
            lines.append(f"{name:<34} {_percent(result.macro_f1):>12} {result.calibration_error:>12.3f}")
        for name, result in rows:
            lines.append(f"\n{name}: per label (precision / recall / F1 / support)")
            for m in result.per_label:
                lines.append(f"  {m.label:<24} {_percent(m.precision):>7} {_percent(m.recall):>7} {_percent(m.f1):>7} {m.support:>6}")
            lines.append(
                "  confusion (rows: true, columns: answered): " + " | ".join(" ".join(str(c) for c in r.counts) for r in result.confusion)
            )
    else:
        lines.append(f"{'':<34} {'length':>8} {'repeats':>8} {'empty':>8} {'cut':>8}")
        for name, result in rows:
            lines.append(
                f"{name:<34} {result.length_ratio:>7.2f}x {_percent(result.repetition_rate):>8} "
                f"{_percent(result.empty):>8} {_percent(result.truncated):>8}"
            )
    counts: dict[str, int] = {}
    for example in report.examples:
        counts[example.category] = counts.get(example.category, 0) + 1
    lines.append("\nerror analysis sample: " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())))
    data = report.data
    lines.append(
        f"data: {data.duplicates_dropped} duplicates dropped, {data.holdout_overlap_dropped} holdout examples also in training dropped"
    )
    return lines


def review_line(summary: trainer_pb2.ReviewSummary) -> str:
    if not summary.reviews:
        return "human review: none yet (tuneserve train review JOB, or export judgements from the HTML report)"
    rating = f", mean rating {summary.mean_rating:.2f}" if summary.HasField("mean_rating") else ""
    return (
        f"human review: {summary.reviews} judgements by {summary.reviewers} reviewer(s): adapter better than k-shot "
        f"{summary.better}, worse {summary.worse}, same {summary.same}{rating}"
    )


def review(client: Client, args: argparse.Namespace) -> int:
    if (args.import_file is None) == (args.line is None):
        print("give either --import FILE or --line N with --verdict and/or --rating", file=sys.stderr)
        return 2
    if args.import_file is not None:
        judgements = json.loads(Path(args.import_file).read_text())
    else:
        judgements = [{"line": args.line, "verdict": args.verdict or "", "rating": args.rating or 0, "note": args.note}]
    print(review_line(client.review_job(args.job, judgements, reviewer=args.reviewer)))
    return 0


def _progress_bar(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the client does not require tqdm; fall back to plain lines
        return None
    return tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)


def watch(client: Client, job_id: str) -> int:
    """Follows a job to its end; exit code 0 when it succeeded."""
    bar = None
    final: trainer_pb2.Job | None = None
    for event in client.watch_job(job_id):
        kind = event.WhichOneof("event")
        if kind == "progress":
            p = event.progress
            postfix = (
                f"loss {p.train_loss:.4f}"
                + (f" val {p.validation_loss:.4f}" if p.HasField("validation_loss") else "")
                + f" lr {p.learning_rate:.2e} {p.tokens_per_second:.0f} tok/s"
            )
            bar = bar or _progress_bar(p.total_steps)
            if bar is None:
                print(f"step {p.step}/{p.total_steps} {postfix}", file=sys.stderr)
            else:
                bar.update(p.step - bar.n)
                bar.set_postfix_str(postfix)
        elif kind == "message":
            (bar.write if bar is not None else lambda text: print(text, file=sys.stderr))(event.message)
        elif kind == "state_change":
            state = event.state_change
            line = f"[{state_name(state.state)}]" + (f" {state.error_code}: {state.error_message}" if state.error_code else "")
            (bar.write if bar is not None else lambda text: print(text, file=sys.stderr))(line)
    if bar is not None:
        bar.close()
    final = client.get_job(job_id)
    if final.state == trainer_pb2.JOB_STATE_SUCCEEDED:
        print(report_table(final))
        return 0
    print(f"job {job_id} {state_name(final.state)}: {final.error_message}", file=sys.stderr)
    return 1


def cmd_train(args: argparse.Namespace) -> int:
    with Client(args.trainer, **client_options(args)) as client:
        if args.action == "submit":
            hyper = {
                k: v
                for k, v in {
                    "epochs": args.epochs,
                    "max_steps": args.max_steps,
                    "rank": args.rank,
                    "alpha": args.alpha,
                    "learning_rate": args.learning_rate,
                    "batch_size": args.batch_size,
                    "gradient_accumulation": args.gradient_accumulation,
                    "max_seq_len": args.max_seq_len,
                    "seed": args.seed,
                    "qlora": args.qlora or None,
                }.items()
                if v is not None
            }
            task = {
                k: v
                for k, v in {
                    "kind": args.kind,
                    "instruction": args.instruction,
                    "template": args.template,
                    "input_format": args.input_format,
                }.items()
                if v
            }
            if args.labels:
                task["labels"] = args.labels.split(",")
            evaluation = {
                k: v
                for k, v in {
                    "icl_shots": args.icl_shots,
                    "max_holdout": args.max_holdout,
                    "forgetting_probe": args.forgetting_probe,
                }.items()
                if v is not None
            }
            job = client.create_job(
                args.data,
                args.name,
                validation=args.validation,
                task=task,
                hyperparameters=hyper,
                evaluation=evaluation,
                publish=args.publish,
                over_length=args.over_length,
                duplicates=args.duplicates,
                checkpoint_every=args.checkpoint_every,
                validation_split=args.validation_split,
                gpus=args.gpus,
            )
            print(f"submitted {job.id} for adapter {job.adapter_name}", file=sys.stderr)
            return 0 if args.no_watch else watch(client, job.id)
        if args.action == "watch":
            return watch(client, args.job)
        if args.action == "show":
            job = client.get_job(args.job)
            print(f"{job.id} {job.adapter_name} {state_name(job.state)} step {job.step}/{job.total_steps}")
            if job.invalid_lines:
                print(f"{job.error_code}: {job.invalid_line_count} invalid line(s):")
                for bad in job.invalid_lines:
                    print(f"  {bad.source + ' ' if bad.source else ''}line {bad.line}: {bad.reason}")
                if job.invalid_line_count > len(job.invalid_lines):
                    print(
                        f"  ... {job.invalid_line_count - len(job.invalid_lines)} more in "
                        f"the trainer's work directory, jobs/{job.id}/invalid_lines.txt"
                    )
                return 1
            if job.error_message:
                print(f"{job.error_code}: {job.error_message}")
            print(report_table(job) if job.state == trainer_pb2.JOB_STATE_SUCCEEDED else json.dumps(json.loads(job.config_json), indent=2))
            return 0
        if args.action == "review":
            return review(client, args)
        if args.action == "report":
            if args.html is None:
                print(report_table(client.get_job(args.job), detailed=True))
                print(review_line(client.get_job_report(args.job).human_review))
                return 0
            page = client.get_job_report(args.job).html
            Path(args.html).write_text(page, encoding="utf-8")
            print(f"wrote the report of {args.job} to {args.html} ({len(page.encode()) // 1024} KiB, self-contained)", file=sys.stderr)
            return 0
        if args.action == "list":
            print(jobs_table(client.list_jobs()))
            return 0
        job = client.cancel_job(args.job)
        print(f"{job.id} {state_name(job.state)}")
        return 0


def where(job: trainer_pb2.Job) -> str:
    """Where a job runs or last ran: "process pid 4242", "kubernetes Job ml/tuneserve-train-..."."""
    if not job.executor:
        return "-"
    place = f"{job.executor} {job.placement}".strip()
    return place + (f" (retry {job.attempts})" if job.attempts else "")


def jobs_table(jobs: list[trainer_pb2.Job]) -> str:
    """`train list`: one line per job, with where it runs."""
    lines = [f"{'JOB':<17} {'ADAPTER':<20} {'STATE':<10} {'STEP':>9}  {'WHERE':<48} RESULT"]
    for job in jobs:
        step = f"{job.step}/{job.total_steps}"
        lines.append(
            f"{job.id:<17} {job.adapter_name:<20} {state_name(job.state):<10} {step:>9}  {where(job):<48} "
            f"{job.published_adapter or job.error_code}"
        )
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    train = commands.add_parser("train", help="submit, watch, list and cancel training jobs (talks to the trainer)")
    train.add_argument(
        "--trainer", default=os.environ.get("TUNESERVE_TRAINER", DEFAULT_TRAINER), help="host:port of the trainer (env TUNESERVE_TRAINER)"
    )
    actions = train.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", help="train an adapter on a JSONL file and watch the job")
    submit.add_argument("data", help="JSONL: {prompt, completion}, {messages} or {text, label} per line")
    submit.add_argument("--name", required=True, help="adapter name in the store")
    submit.add_argument("--validation", help="separate holdout JSONL (default: hold out --validation-split of the data)")
    submit.add_argument("--validation-split", type=float)
    submit.add_argument("--kind", choices=["classification", "generation"])
    submit.add_argument("--instruction")
    submit.add_argument("--template", choices=["chat", "plain"])
    submit.add_argument("--input-format", help="how the input is written into the prompt, with {input}")
    submit.add_argument("--labels", help="comma-separated labels of a classification task")
    for flag, kind in (
        ("--epochs", int),
        ("--max-steps", int),
        ("--rank", int),
        ("--alpha", float),
        ("--learning-rate", float),
        ("--batch-size", int),
        ("--gradient-accumulation", int),
        ("--max-seq-len", int),
        ("--seed", int),
        ("--icl-shots", int),
        ("--max-holdout", int),
        ("--forgetting-probe", int),
        ("--checkpoint-every", int),
        ("--gpus", int),
    ):
        submit.add_argument(flag, type=kind)
    submit.add_argument("--qlora", action="store_true", help="train on the 4-bit base")
    submit.add_argument("--publish", choices=["always", "if_beats_icl", "never"])
    submit.add_argument("--over-length", choices=["refuse", "truncate", "drop"])
    submit.add_argument("--duplicates", choices=["drop", "refuse", "keep"], help="exact duplicate examples (default: drop, with a warning)")
    submit.add_argument("--no-watch", action="store_true", help="return once the job is queued")
    actions.add_parser("watch", help="follow a job with a progress bar and print its report").add_argument("job")
    actions.add_parser("show", help="a job's state and report").add_argument("job")
    report = actions.add_parser("report", help="a job's evaluation in detail, or its HTML report with --html")
    report.add_argument("job")
    report.add_argument("--html", metavar="FILE", help="write the self-contained HTML report here")
    review_parser = actions.add_parser("review", help="record your judgement of a job's sampled answers (adapter vs k-shot, or 1-5)")
    review_parser.add_argument("job")
    review_parser.add_argument("--import", dest="import_file", metavar="FILE", help="judgements exported from the HTML report")
    review_parser.add_argument("--line", type=int, help="the example's line (see `train report JOB`)")
    review_parser.add_argument("--verdict", choices=["better", "worse", "same"], help="the adapter's answer against the k-shot prompt's")
    review_parser.add_argument("--rating", type=int, choices=range(1, 6), help="the adapter's answer, 1 (bad) to 5 (good)")
    review_parser.add_argument("--note", default="")
    review_parser.add_argument("--reviewer", default=os.environ.get("USER", ""), help="who judges (default: $USER)")
    actions.add_parser("list", help="recent jobs")
    actions.add_parser("cancel", help="stop a job").add_argument("job")
    train.set_defaults(run=None, train=cmd_train)

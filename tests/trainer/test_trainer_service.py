"""The trainer service end to end: real jobs on the embedded model over loopback gRPC."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest
from tuneserve.v1 import trainer_pb2
from tuneserve_client import cli, errors

from common.file_adapter_store import FileAdapterStore
from common.threads import run_on_fresh_thread
from server.adapters.loader import BaseSpec, load_adapter
from tests.tools import tool
from tests.trainer.conftest import QUICK, wait_job
from tests.waiting import wait_for

STATES = trainer_pb2.JobState


def test_a_job_trains_evaluates_publishes_and_streams_its_events(trainer_client, sentiment_jsonl, trainer, base_model, tmp_path):
    lines = sentiment_jsonl.read_text().splitlines(keepends=True)
    with_copies = tmp_path / "with-copies.jsonl"
    with_copies.write_text("".join(lines + lines[:3]))  # three exact duplicates: dropped with a warning
    job = trainer_client.create_job(str(with_copies), "reviews", task={"instruction": "Is the review positive or negative?"}, **QUICK)
    assert job.state == STATES.JOB_STATE_VALIDATING and job.id.startswith("job-")
    events = list(trainer_client.watch_job(job.id))
    states = [STATES.Name(e.state_change.state) for e in events if e.WhichOneof("event") == "state_change"]
    assert states == ["JOB_STATE_VALIDATING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
    assert [p.step for p in progress] == [1, 2, 3, 4] and all(p.total_steps == 4 for p in progress)
    assert all(p.train_loss > 0 and p.learning_rate > 0 and p.tokens_per_second > 0 and p.tokens > 0 for p in progress)
    assert progress[-1].HasField("validation_loss")
    evaluation = next(e.evaluation for e in events if e.WhichOneof("event") == "evaluation")
    assert evaluation.metric == "accuracy" and evaluation.holdout_examples == 8 and evaluation.base_icl.shots == 2
    messages = [e.message for e in events if e.WhichOneof("event") == "message"]
    assert "32 training and 8 holdout examples, classification task with labels ['negative', 'positive']" in messages
    assert "published reviews@1" in messages
    assert any(m.startswith("dropped 3 exact duplicate examples (line 41 (repeats line 1);") for m in messages), messages
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)

    done = trainer_client.get_job(job.id)
    assert done.state == STATES.JOB_STATE_SUCCEEDED and done.published_adapter == "reviews@1"
    assert (done.executor, done.placement, done.attempts) == ("thread", f"thread train-{job.id}", 0), "where it ran"
    assert done.report.forgetting.questions == 8 and done.report.validation_loss > 0
    report = done.report
    assert list(report.labels) == ["negative", "positive"] and report.data.duplicates_dropped == 3
    for result in (report.base_zero_shot, report.base_icl, report.adapter):
        assert [m.label for m in result.per_label] == ["negative", "positive"]
        assert sum(sum(row.counts) for row in result.confusion) == 8 and len(result.confusion) == 2
        assert sum(m.support for m in result.per_label) == 8 and 0 <= result.macro_f1 <= 1
        assert result.HasField("calibration_error") and 0 <= result.calibration_error <= 1
        diagonal = sum(result.confusion[i].counts[i] for i in range(2))
        assert diagonal / 8 == pytest.approx(result.accuracy)
    assert report.examples and all(e.category in {"fixed", "broken", "wrong_all", "right_all", "other"} for e in report.examples)
    assert all(e.adapter in ("negative", "positive") for e in report.examples)
    page = trainer_client.get_job_report(job.id).html
    assert page.startswith("<!DOCTYPE html>") and "Confusion matrices" in page and "data:image/png;base64," in page
    assert json.loads(done.config_json)["hyperparameters"]["rank"] == 16, "defaults are filled in"
    with pytest.raises(errors.FailedPreconditionError, match="already succeeded"):
        trainer_client.cancel_job(job.id)

    store = FileAdapterStore(trainer.server.settings.adapter_store)
    manifest = store.manifest("reviews", 1)
    assert manifest.task["kind"] == "classification" and manifest.task["labels"] == ["negative", "positive"]
    assert manifest.task["instruction"] == "Is the review positive or negative?" and len(manifest.task["demonstrations"]) == 2
    assert manifest.eval_report["adapter"]["accuracy"] is not None and "margin" in manifest.eval_report
    assert {"adapter_model.safetensors", "adapter_config.json", "loss_curve.png", "report.html"} <= set(manifest.files)
    adapter = run_on_fresh_thread(lambda: load_adapter(store.path("reviews", 1), BaseSpec.from_base(base_model), 16))
    assert adapter.rank == 16 and adapter.manifest.base_fingerprint == base_model.fingerprint

    later = list(trainer_client.watch_job(job.id, after_sequence=events[-3].sequence))
    assert [e.sequence for e in later] == [e.sequence for e in events[-2:]], "watching resumes after a sequence number"


def test_invalid_data_fails_the_job_listing_every_bad_line(trainer_client, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"text": "fine", "label": "positive"}\n{"text": "", "label": "negative"}\nnot json\n{"text": "fine", "label": "positive"}\n'
    )
    job = trainer_client.create_job(str(data), "broken", duplicates="refuse")
    failed = wait_job(trainer_client, job.id, {STATES.JOB_STATE_FAILED}, 60)
    assert failed.error_code == "invalid_data"
    assert "3 invalid line(s)" in failed.error_message
    for line in ("line 2: empty text", "line 3: not JSON", "line 4: duplicate of line 1"):
        assert line in failed.error_message
    dropping = wait_job(trainer_client, trainer_client.create_job(str(data), "broken").id, {STATES.JOB_STATE_FAILED}, 60)
    assert "2 invalid line(s)" in dropping.error_message and "line 4" not in dropping.error_message, "duplicates are dropped by default"
    with pytest.raises(errors.FailedPreconditionError, match="has no report yet"):
        trainer_client.get_job_report(job.id)


@pytest.mark.parametrize(
    "name,options,field,words",
    [
        ("../up", {}, "adapter_name", "may only use letters"),
        ("ok", {"hyperparameters": {"rank": 0}}, "hyperparameters.rank", "greater than or equal to 1"),
        ("ok", {"hyperparameters": {"target_modules": ["lm_head"]}}, "hyperparameters", "target_modules"),
        # Phi-3's fused module: a name the served model (SmolLM2, a Llama) lacks, refused with the ones it has
        ("ok", {"hyperparameters": {"target_modules": ["qkv_proj"]}}, "hyperparameters.target_modules", "q_proj, k_proj, v_proj"),
        ("ok", {"task": {"template": "html"}}, "task.template", "'chat' or 'plain'"),
        ("ok", {"validation_split": 1.5}, "validation_split", "less than 1"),
        (
            "ok",
            {"hyperparameters": {"learning_rate": 1e-3, "learning_rate_multiplier": 2}},
            "hyperparameters.learning_rate_multiplier",
            "either",
        ),
        ("ok", {"hyperparameters": {"learning_rate_multiplier": 0}}, "hyperparameters.learning_rate_multiplier", "must be in (0, 100]"),
    ],
)
def test_invalid_configuration_is_refused_at_once(trainer_client, sentiment_jsonl, name, options, field, words):
    with pytest.raises(errors.InvalidArgumentError) as info:
        trainer_client.create_job(str(sentiment_jsonl), name, **options)
    assert info.value.field == field and words in info.value.message


def test_the_operators_forgetting_probe_applies_where_the_job_sets_none():
    from trainer.api.service import job_config
    from trainer.config import TrainerSettings

    assert job_config(trainer_pb2.CreateJobRequest(adapter_name="x"), 8).evaluation.forgetting_probe == 8
    own = trainer_pb2.CreateJobRequest(adapter_name="x", evaluation=trainer_pb2.EvaluationConfig(forgetting_probe=0))
    assert job_config(own, 8).evaluation.forgetting_probe == 0
    operator_default = TrainerSettings.model_fields["forgetting_probe"].default
    assert job_config(trainer_pb2.CreateJobRequest(adapter_name="x"), operator_default).evaluation.forgetting_probe == 100


def test_data_must_be_given_once(trainer_client, sentiment_jsonl):
    def create(**fields):
        return trainer_client._call(trainer_client.trainer.CreateJob, trainer_pb2.CreateJobRequest(adapter_name="x", **fields), 10)

    with pytest.raises(errors.InvalidArgumentError, match="no training data"):
        create()
    with pytest.raises(errors.InvalidArgumentError, match="give one of training_data, training_file and training_file_id"):
        create(training_data=b"{}", training_file=str(sentiment_jsonl))
    with pytest.raises(errors.InvalidArgumentError, match="give one of"):
        create(training_data=b"{}", training_file_id="file-1")
    with pytest.raises(errors.InvalidArgumentError, match="never uploaded") as unknown:
        create(training_file_id="file-000000000000000000000000")
    assert unknown.value.field == "training_file_id"
    with pytest.raises(errors.InvalidArgumentError, match="not a file inside the trainer's data directories"):
        create(training_file="/nope.jsonl")


def create_request(**fields) -> trainer_pb2.CreateJobRequest:
    return trainer_pb2.CreateJobRequest(adapter_name=fields.pop("adapter_name", "named"), **fields)


def test_the_trainer_reads_files_only_inside_its_data_directories(trainer_client, trainer, sentiment_jsonl):
    data_dir = trainer.server.settings.data_dirs[0]
    allowed = data_dir / "reviews.jsonl"
    allowed.write_bytes(sentiment_jsonl.read_bytes())
    (data_dir / "escape.jsonl").symlink_to("/etc/passwd")
    (data_dir / "fifo.jsonl").unlink(missing_ok=True)
    import os

    os.mkfifo(data_dir / "fifo.jsonl")
    refused = [
        "/etc/passwd",
        "/etc/shadow",
        "/proc/self/environ",
        "/nope.jsonl",
        str(data_dir / "escape.jsonl"),
        f"{data_dir}/../../etc/passwd",
        "reviews.jsonl",
    ]
    for path in refused:
        with pytest.raises(errors.InvalidArgumentError) as info:
            trainer_client._call(trainer_client.trainer.CreateJob, create_request(training_file=path), 10)
        assert info.value.field == "training_file"
        assert (
            info.value.message
            == f"training_file: {path!r} is not a file inside the trainer's data directories ({data_dir}); send the data inline"
        )
    with pytest.raises(errors.InvalidArgumentError, match="not a regular file"):
        trainer_client._call(trainer_client.trainer.CreateJob, create_request(training_file=str(data_dir / "fifo.jsonl")), 10)
    with pytest.raises(errors.InvalidArgumentError) as info:
        trainer_client._call(trainer_client.trainer.CreateJob, create_request(training_data=b"{}", validation_file="/etc/passwd"), 10)
    assert info.value.field == "validation_file"
    job = trainer_client._call(
        trainer_client.trainer.CreateJob, create_request(training_file=str(allowed), publish=trainer_pb2.PUBLISH_POLICY_NEVER), 10
    )
    done = wait_job(trainer_client, job.id, {STATES.JOB_STATE_QUEUED, STATES.JOB_STATE_RUNNING, STATES.JOB_STATE_FAILED})
    assert done.state != STATES.JOB_STATE_FAILED, done.error_message
    trainer_client.cancel_job(job.id)
    assert trainer.server.settings.work_dir.stat().st_mode & 0o077 == 0, "the work directory is private"


@pytest.mark.parametrize(
    "fields,field",
    [({"publish": 99}, "publish"), ({"over_length": 77}, "over_length")],
)
def test_unknown_enum_values_are_invalid_arguments(trainer_client, fields, field):
    with pytest.raises(errors.InvalidArgumentError) as info:
        trainer_client._call(
            trainer_client.trainer.CreateJob, create_request(training_data=b'{"prompt": "a", "completion": "b"}', **fields), 10
        )
    assert info.value.field == field and "has no value" in info.value.message
    with pytest.raises(errors.InvalidArgumentError) as info:
        trainer_client._call(trainer_client.trainer.ListJobs, trainer_pb2.ListJobsRequest(states=[trainer_pb2.JOB_STATE_RUNNING, 99]), 10)
    assert info.value.field == "states[1]"


def test_every_bad_line_is_listed_with_the_job(trainer_client, trainer):
    rows = [json.dumps({"text": f"good {i}", "label": "pos" if i % 2 else "neg"}) for i in range(20)]
    data = "\n".join(rows + [f"garbage {i} {{" for i in range(12_000)] + [json.dumps({"text": 5, "label": "pos"})]).encode()
    job = trainer_client._call(trainer_client.trainer.CreateJob, create_request(training_data=data), 30)
    failed = wait_job(trainer_client, job.id, {STATES.JOB_STATE_FAILED}, 60)
    assert failed.error_code == "invalid_data" and failed.invalid_line_count == 12_001
    assert len(failed.invalid_lines) == 10_000 and [b.line for b in failed.invalid_lines[:3]] == [21, 22, 23]
    kept = (trainer.server.settings.work_dir / "jobs" / job.id / "invalid_lines.txt").read_text().splitlines()
    assert len(kept) == 12_001 and kept[-1] == "line 12021: text must be a string, got a number"


def test_jobs_queue_one_at_a_time_and_cancel_within_seconds(trainer_client, sentiment_jsonl, trainer):
    long = trainer_client.create_job(str(sentiment_jsonl), "long-job", hyperparameters={"max_steps": 500, "batch_size": 8})
    queued = trainer_client.create_job(str(sentiment_jsonl), "queued-job", **QUICK)
    wait_job(trainer_client, long.id, {STATES.JOB_STATE_RUNNING})
    wait_for(lambda: trainer_client.get_job(long.id).step >= 1, 120, what="the long job's first step")
    assert wait_job(trainer_client, queued.id, {STATES.JOB_STATE_QUEUED}).state == STATES.JOB_STATE_QUEUED
    assert trainer_client.cancel_job(queued.id).state == STATES.JOB_STATE_CANCELLED, "a queued job is cancelled at once"
    trainer_client.cancel_job(long.id)
    cancelled = wait_job(trainer_client, long.id, {STATES.JOB_STATE_CANCELLED}, 15)  # within seconds
    assert cancelled.step < 500 and not cancelled.published_adapter
    store = FileAdapterStore(trainer.server.settings.adapter_store)
    assert store.versions("long-job") == [] and store.versions("queued-job") == []
    work = trainer.server.settings.work_dir / "jobs" / long.id
    assert not (work / "checkpoints").exists(), "nothing partial is left behind"
    assert trainer_client.cancel_job(long.id).state == STATES.JOB_STATE_CANCELLED, "cancelling again changes nothing"


def test_list_and_get(trainer_client):
    jobs = trainer_client.list_jobs()
    assert jobs and [j.created.ToNanoseconds() for j in jobs] == sorted((j.created.ToNanoseconds() for j in jobs), reverse=True)
    with pytest.raises(errors.NotFoundError, match="no training job"):
        trainer_client.get_job("job-missing")


def test_cli_submits_watches_and_prints_the_report(trainer, sentiment_jsonl, capsys, tmp_path):
    code = cli.main(
        [
            "train",
            "--trainer",
            trainer.address,
            "submit",
            str(sentiment_jsonl),
            "--name",
            "cli-reviews",
            "--max-steps",
            "2",
            "--icl-shots",
            "2",
            "--max-holdout",
            "8",
            "--forgetting-probe",
            "0",
            "--publish",
            "if_beats_icl",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "base model, zero-shot" in out and "base model, 2-shot prompt" in out and "adapter" in out
    assert "2-shot prompting by" in out
    assert ("published cli-reviews@1" in out) or ("not published: the adapter" in out)
    job_id = err.split("submitted ", 1)[1].split()[0]

    assert cli.main(["train", "--trainer", trainer.address, "report", job_id]) == 0
    detail = capsys.readouterr().out
    assert "per label (precision / recall / F1 / support)" in detail and "confusion (rows: true" in detail
    assert "error analysis sample:" in detail and "duplicates dropped" in detail
    lines = [e.line for e in trainer_client_for(trainer).get_job(job_id).report.examples]
    train = ["train", "--trainer", trainer.address]
    assert cli.main([*train, "review", job_id, "--line", str(lines[0]), "--verdict", "better", "--rating", "4", "--reviewer", "ana"]) == 0
    exported = tmp_path / "judgements.json"  # the shape the HTML report's export button writes
    exported.write_text(json.dumps([{"line": lines[-1], "verdict": "worse", "rating": 2}]))
    assert cli.main([*train, "review", job_id, "--import", str(exported), "--reviewer", "bob"]) == 0
    assert "2 judgements by 2 reviewer(s): adapter better than k-shot 1, worse 1, same 0, mean rating 3.00" in capsys.readouterr().out
    with pytest.raises(errors.InvalidArgumentError, match="not one of the report's sampled examples") as info:
        trainer_client_for(trainer).review_job(job_id, [{"line": 999, "verdict": "better"}])
    assert info.value.field == "reviews[0].line"
    with pytest.raises(errors.InvalidArgumentError, match="neither a verdict nor a rating"):
        trainer_client_for(trainer).review_job(job_id, [{"line": lines[0]}])
    assert cli.main([*train, "report", job_id]) == 0
    assert "human review: 2 judgements" in capsys.readouterr().out
    page = tmp_path / "report.html"
    assert cli.main([*train, "report", job_id, "--html", str(page)]) == 0
    assert "Human review" in page.read_text() and "Export judgements" in page.read_text()
    assert_report_renders(page)


def trainer_client_for(trainer):
    from tuneserve_client import Client

    return Client(trainer.address, timeout=60)


def assert_report_renders(page):
    """Renders the report in headless Chromium and looks for every section in the screenshot.

    Each section heading carries its own marker colour; a section that failed to render (or CSS
    that did not apply) leaves its colour out of the picture. The heatmap's darkest cell and the
    loss curve's line colour must be there too."""
    from PIL import Image

    from trainer.evaluation.html_report import SECTION_COLOURS

    shot = page.with_suffix(".png")
    done = subprocess.run(
        [
            tool("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1300,5000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), done.stderr
    colours = Counter(Image.open(shot).convert("RGB").getdata())
    for section, colour in SECTION_COLOURS.items():
        assert colours[colour] > 100, f"the {section} section is not in the rendered report"
    assert colours[(8, 48, 107)] > 100, "no confusion-matrix heatmap cell at full intensity"
    assert sum(n for (r, g, b), n in colours.items() if abs(r - 31) < 8 and abs(g - 119) < 8 and abs(b - 180) < 8) > 50, "no loss curve"


def test_a_generation_job_reports_verbosity_repetition_and_drops_holdout_copies(trainer_client, tmp_path):
    countries = ["France", "Japan", "Italy", "Spain", "Germany", "Egypt", "Peru", "Kenya", "Chile", "Norway", "Greece", "India"]
    capitals = ["Paris", "Tokyo", "Rome", "Madrid", "Berlin", "Cairo", "Lima", "Nairobi", "Santiago", "Oslo", "Athens", "New Delhi"]
    rows = [{"prompt": f"The capital of {c}?", "completion": k} for c, k in zip(countries, capitals, strict=True)]
    train, holdout = tmp_path / "train.jsonl", tmp_path / "holdout.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[:8]))
    # two holdout lines repeat training examples: they are reported and left out of the holdout
    holdout.write_text("".join(json.dumps(r) + "\n" for r in rows[8:] + rows[:2]))
    options = {**QUICK, "evaluation": {"icl_shots": 2, "max_holdout": 8, "forgetting_probe": 0}, "publish": "never"}
    options.pop("validation_split")
    job = trainer_client.create_job(str(train), "capitals", validation=str(holdout), task={"kind": "generation"}, **options)
    done = wait_job(trainer_client, job.id, {STATES.JOB_STATE_SUCCEEDED, STATES.JOB_STATE_FAILED})
    assert done.state == STATES.JOB_STATE_SUCCEEDED, done.error_message
    report = done.report
    assert report.metric == "exact_match" and report.holdout_examples == 4
    assert report.data.holdout_overlap_dropped == 2 and list(report.data.holdout_overlap_lines) == [5, 6]
    for result in (report.base_zero_shot, report.base_icl, report.adapter):
        for field in ("exact_match", "token_f1", "length_ratio", "repetition_rate", "empty", "truncated"):
            assert result.HasField(field), field
        assert 0 <= result.empty <= 1 and 0 <= result.truncated <= 1 and result.length_ratio >= 0
    assert report.examples and {e.reference for e in report.examples} <= set(capitals[8:])
    page = trainer_client.get_job_report(job.id).html
    assert "length ratio" in page and "Confusion matrices" not in page

"""Rollouts between adapter versions on a real server: sticky arms, pinned requests, promotion,
feedback and the experiment report, shadow copies, the prompting arm and the guard rule."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml
from tuneserve.v1 import common_pb2
from tuneserve_client import Client, cli, errors

from common.file_adapter_store import FileAdapterStore
from common.rollout import POLICY_FILE
from tests.adapter_training import publish
from tests.conftest import running_server
from tests.load import users
from tests.tools import free_port
from tests.waiting import wait_for

QUESTION = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def store(tmp_path_factory, trained_adapters, base_spec) -> FileAdapterStore:
    store = FileAdapterStore(tmp_path_factory.mktemp("rollout-store"))
    publish(store, trained_adapters["banana"], "fruit", base_spec)  # fruit@1
    publish(store, trained_adapters["cherry"], "fruit", base_spec)  # fruit@2, current
    store.set_current("fruit", 1)
    return store


@pytest.fixture(scope="module")
def experiment_db(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments") / "experiments.sqlite"


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rollout-tasks")
    task = {
        "name": "fruit-task",
        "kind": "generation",
        "adapter": "fruit",
        "instruction": "Name a fruit.",
        "demonstrations": [{"input": "Name a fruit.", "output": "apple"}],
        "parameters": {"max_new_tokens": 8},
    }
    (root / "fruit.yaml").write_text(yaml.safe_dump(task))
    return root


def serve(base_model, cache_dir, store, experiment_db, task_dir):
    return running_server(
        base_model,
        cache_dir,
        adapter_store=store.root,
        adapter_poll_interval_s=0.1,
        max_loras=4,
        experiment_db=experiment_db,
        task_dir=task_dir,
        guard_interval_s=0.2,
        http_port=free_port(),
    )


@pytest.fixture(scope="module")
def rollout_server(base_model, cache_dir, store, experiment_db, task_dir):
    with serve(base_model, cache_dir, store, experiment_db, task_dir) as running:
        yield running


def arm_of(client: Client, key: str, adapter: str = "fruit") -> tuple[str, str]:
    reply = client.generate(messages=QUESTION, adapter=adapter, routing_key=key, max_new_tokens=1)
    return reply.adapter, reply.rollout_arm


def test_a_split_sends_each_key_to_one_version_and_pinned_requests_bypass_it(rollout_server, store):
    with Client(rollout_server.address, timeout=120) as client:
        assert {arm_of(client, f"user-{i}")[0] for i in range(6)} == {"fruit@1"}, "before the split: the current version"
        info = client.set_rollout("fruit", {1: 50, 2: 50})
        assert dict(info.rollout_weights) == {1: 50, 2: 50}
        assert (store.root / "fruit" / POLICY_FILE).is_file(), "the split is stored beside the pointer"
        first = {key: arm_of(client, key) for key in (f"user-{i}" for i in range(24))}
        assert {label for label, _ in first.values()} == {"fruit@1", "fruit@2"}
        assert all(arm == f"{label.split('@')[1]} of 1=50 2=50" for label, arm in first.values())
        assert all(arm_of(client, key) == seen for key, seen in list(first.items())[:8]), "every key keeps its arm"
        assert arm_of(client, "user-0", adapter="fruit@2") == ("fruit@2", ""), "a pinned request bypasses the split"
        stream = list(client.generate_stream(messages=QUESTION, adapter="fruit", routing_key="user-1", max_new_tokens=1))
        assert stream[-1].rollout_arm == first["user-1"][1]


def test_bad_splits_are_refused_and_leave_the_split_in_force(rollout_server, capsys):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_rollout("fruit", {1: 80, 2: 20})
        with pytest.raises(errors.InvalidArgumentError, match="add up to 100") as info:
            client.set_rollout("fruit", {1: 80, 2: 10})
        assert info.value.field == "weights"
        with pytest.raises(errors.NotFoundError, match="no version 9"):
            client.set_rollout("fruit", {1: 50, 9: 50})
        with pytest.raises(errors.NotFoundError):
            client.set_rollout("nope", {1: 50, 2: 50})
        assert dict(client.get_adapter("fruit").rollout_weights) == {1: 80, 2: 20}
    # the command line refuses what is not VERSION=PERCENT before it asks, '²' and 5,000 digits too
    for arm in ("1=²", "²=100", "1=" + "5" * 5000, "one=100", "1=-5"):
        assert cli.main(["--server", rollout_server.address, "adapters", "split", "fruit", arm]) == 2
        assert "is not VERSION=PERCENT" in capsys.readouterr().err


def test_a_restarted_server_keeps_the_split_and_promote_ends_it(
    base_model, cache_dir, store, experiment_db, task_dir, rollout_server, capsys
):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_rollout("fruit", {1: 70, 2: 30})
    with serve(base_model, cache_dir, store, experiment_db.with_name("other.sqlite"), task_dir) as second:
        with Client(second.address, timeout=120) as client:
            wait_for(lambda: dict(client.get_adapter("fruit").rollout_weights) == {1: 70, 2: 30}, 30, what="the stored split")
            assert arm_of(client, "user-5")[1].endswith("of 1=70 2=30")
        assert cli.main(["--server", second.address, "adapters", "promote", "fruit", "2"]) == 0
        assert "serving" in capsys.readouterr().out
        with Client(second.address, timeout=120) as client:
            info = client.get_adapter("fruit")
            assert info.current_version == 2 and not info.rollout_weights
            assert {arm_of(client, f"user-{i}") for i in range(6)} == {("fruit@2", "")}
    assert not (store.root / "fruit" / POLICY_FILE).exists()


def answered(client: Client, key: str) -> tuple[str, str, str]:
    reply = client.generate(messages=QUESTION, adapter="fruit", routing_key=key, max_new_tokens=8)
    return reply.request_id, reply.adapter, reply.text


def test_feedback_joins_answers_and_the_report_equals_a_direct_count_after_a_restart(
    base_model, cache_dir, store, experiment_db, task_dir, rollout_server, capsys
):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_current_version("fruit", 1)
        client.set_rollout("fruit", {1: 50, 2: 50})
        replies = [answered(client, f"fb-{i}") for i in range(24)]
        assert {adapter for _, adapter, _ in replies} == {"fruit@1", "fruit@2"}
        for request_id, adapter, text in replies:
            verdict = client.feedback(request_id, label="banana", rating=5 if adapter == "fruit@1" else 1)
            assert verdict.adapter == adapter and verdict.correct == (text.strip().lower() == "banana"), (adapter, text)
        first = next(request_id for request_id, adapter, _ in replies if adapter == "fruit@1")
        client.feedback(first, thumb="up")  # adds to the earlier judgement
        with pytest.raises(errors.NotFoundError, match="no answer with request id"):
            client.feedback("never-seen", label="banana")
        with pytest.raises(errors.InvalidArgumentError, match="1 to 5") as info:
            client.feedback(replies[0][0], rating=9)
        assert info.value.field == "rating"
        with pytest.raises(errors.InvalidArgumentError, match="at least one"):
            client.feedback(replies[0][0])
        with pytest.raises(errors.InvalidArgumentError, match="at most 128") as info:
            client.feedback("x" * 5000, label="banana")
        assert info.value.field == "request_id"
        before = {arm.version: arm for arm in client.get_experiment("fruit").arms}
    expected = {
        version: (
            sum(a == f"fruit@{version}" for _, a, _ in replies),
            sum(a == f"fruit@{version}" and t.strip().lower() == "banana" for _, a, t in replies),
        )
        for version in (1, 2)
    }
    for version, (requests, correct) in expected.items():
        arm = before[version]
        assert (arm.requests, arm.labelled, arm.correct) == (requests, requests, correct)
        assert arm.accuracy == pytest.approx(correct / requests)
    assert before[1].role == "control" and before[2].role == "canary" and before[2].significant
    assert before[1].thumbs_up == 1 and before[1].mean_rating == 5 and before[2].mean_rating == 1
    # a restarted server on the same record keeps every answer and judgement
    with serve(base_model, cache_dir, store, experiment_db, task_dir) as second:
        with Client(second.address, timeout=120) as client:
            wait_for(lambda: dict(client.get_adapter("fruit").rollout_weights) == {1: 50, 2: 50}, 30, what="the stored split")
            after = {arm.version: arm for arm in client.get_experiment("fruit").arms}
            assert {v: (a.requests, a.correct, a.thumbs_up) for v, a in after.items()} == {
                v: (a.requests, a.correct, a.thumbs_up) for v, a in before.items()
            }
            request_id, adapter, _ = answered(client, "fb-http")
        # the HTTP API takes feedback too, on the same record
        body = json.dumps({"request_id": request_id, "label": "banana", "thumb": "down"}).encode()
        call = urllib.request.Request(f"{second.http_url}/feedback", body, {"content-type": "application/json"})
        with urllib.request.urlopen(call, timeout=30) as response:
            reply = json.load(response)
        assert reply["model"] == adapter and reply["request_id"] == request_id
    assert cli.main(["--server", rollout_server.address, "adapters", "experiment", "fruit"]) == 0
    table = capsys.readouterr().out
    assert "control" in table and "canary" in table and "significant" in table
    with Client(rollout_server.address, timeout=120) as client:
        client.clear_rollout("fruit")


def test_a_shadow_never_changes_an_answer_and_a_broken_shadow_is_refused(rollout_server, store, trained_adapters, base_spec):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_current_version("fruit", 1)
        client.clear_rollout("fruit")
        plain = [answered(client, f"sh-{i}")[1:] for i in range(6)]
        info = client.set_rollout("fruit", shadow=2)
        assert info.rollout_shadow == 2 and not info.rollout_weights
        shadowed = [answered(client, f"sh-{i}") for i in range(6)]
        assert [s[1:] for s in shadowed] == plain, "the caller gets exactly what it got without the shadow"
        wait_for(lambda: client.get_experiment("fruit").arms[-1].compared >= 6, 60, what="the shadow's answers")
        shadow = client.get_experiment("fruit").arms[-1]
        assert (shadow.role, shadow.version, shadow.agreement, shadow.errors) == ("shadow", 2, 0.0, 0)
        assert "cherry" in " ".join(shadow.answers).lower()
        # a version that fails its checks never becomes the shadow, and the rollout in force stays
        broken = store.root / "fruit" / "3"
        publish(store, trained_adapters["banana"], "fruit", base_spec, make_current=False)  # fruit@3, then broken on disk
        weights = next(broken.glob("*.safetensors"))
        weights.chmod(0o644)
        weights.write_bytes(b"not a safetensors file")
        with pytest.raises(errors.FailedPreconditionError, match="fruit@3 cannot take part in a rollout: .*sha256"):
            client.set_rollout("fruit", shadow=3)
        assert client.get_adapter("fruit").rollout_shadow == 2
        assert [answered(client, f"sh-{i}")[1:] for i in range(3)] == plain[:3]
        client.clear_rollout("fruit")


def test_a_task_splits_between_its_adapter_and_its_few_shot_prompt(rollout_server):
    with Client(rollout_server.address, timeout=120) as client:
        client.set_current_version("fruit", 1)
        client.set_rollout("fruit", {0: 50, 1: 50})
        replies = [client.run_task("fruit-task", "Name a fruit.", routing_key=f"t-{i}") for i in range(12)]
        prompting = [r for r in replies if r.rollout_arm.startswith("0 of")]
        adapted = [r for r in replies if r.rollout_arm.startswith("1 of")]
        assert prompting and adapted and len(prompting) + len(adapted) == len(replies)
        assert all(r.adapter == "" and r.prompt_info.backing == common_pb2.TASK_BACKING_DEMONSTRATIONS for r in prompting)
        assert all(r.adapter == "fruit@1" and r.text.strip().lower() == "banana" for r in adapted)
        arms = {arm.version: arm for arm in client.get_experiment("fruit").arms}
        assert arms[0].requests >= len(prompting) and arms[1].requests >= len(adapted)
        client.clear_rollout("fruit")


def test_the_guard_rolls_back_a_bad_canary_under_load_with_no_failed_request(rollout_server):
    def judged(client: Client, key: str) -> str:
        request_id, adapter, _ = answered(client, f"guard-{key}")
        client.feedback(request_id, label="banana")
        return adapter

    with Client(rollout_server.address, timeout=120) as client:
        client.set_current_version("fruit", 1)
        client.set_rollout("fruit", {1: 50, 2: 50}, guard={"min_samples": 8})
        with users([rollout_server.address] * 4, judged) as (served, failures):
            wait_for(lambda: not client.get_adapter("fruit").rollout_weights, 240, what="the guard's rollback")
            time.sleep(1)  # requests in flight across the rollback
        assert failures == [], failures[:3]
        assert "fruit@2" in served, "the canary took traffic before it was rolled back"
        experiment = client.get_experiment("fruit")
        assert [e.kind for e in experiment.events][-1:] == ["rollback"]
        assert "version 2 was right on 0.0%" in experiment.events[-1].detail
        assert {answered(client, f"after-{i}")[1] for i in range(6)} == {"fruit@1"}
    with urllib.request.urlopen(f"http://127.0.0.1:{rollout_server.server.metrics_port}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'tuneserve_rollout_rollbacks_total{adapter="fruit"} 1.0' in metrics
    assert 'tuneserve_feedback_total{adapter="fruit",kind="incorrect",version="2"}' in metrics


def test_feedback_on_a_request_of_several_answers_names_them_by_index(rollout_server):
    import openai

    with openai.OpenAI(base_url=rollout_server.http_url, api_key="unused", max_retries=0, timeout=120) as oai:
        reply = oai.chat.completions.create(model="fruit@1", messages=QUESTION, n=2, max_tokens=2)
        whole = reply.id.removeprefix("chatcmpl-")
        with pytest.raises(openai.NotFoundError, match=f"name one as {whole}-<index>"):
            oai.post("/feedback", body={"request_id": reply.id, "thumb": "up"}, cast_to=object)
        judged = oai.post("/feedback", body={"request_id": f"{whole}-1", "thumb": "up"}, cast_to=object)
        assert judged["request_id"] == f"{whole}-1" and judged["model"] == "fruit@1"
        with pytest.raises(openai.NotFoundError, match="is kept: only requests to an adapter name"):
            oai.post("/feedback", body={"request_id": "never-answered", "thumb": "up"}, cast_to=object)

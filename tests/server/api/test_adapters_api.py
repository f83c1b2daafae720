"""Adapters end to end: a real server with a store, real trained adapters, hot-swaps under load."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
from tuneserve.v1 import adapters_pb2
from tuneserve_client import Client, errors

from common.file_adapter_store import FileAdapterStore
from tests.adapter_training import publish
from tests.background import BackgroundServer
from tests.conftest import running_server
from tests.tools import tool
from tests.waiting import wait_for

QUESTION = [{"role": "user", "content": "What is the tallest mountain in the world?"}]


@pytest.fixture(scope="module")
def store(tmp_path_factory, trained_adapters, base_spec) -> FileAdapterStore:
    store = FileAdapterStore(tmp_path_factory.mktemp("store"))
    publish(store, trained_adapters["banana"], "banana", base_spec)
    publish(store, trained_adapters["cherry"], "cherry", base_spec)
    return store


@pytest.fixture(scope="module")
def adapter_server(base_model, cache_dir, store):
    with running_server(base_model, cache_dir, adapter_store=store.root, adapter_poll_interval_s=0.1, max_loras=4) as running:
        yield running


@pytest.fixture()
def admin(adapter_server):
    with Client(adapter_server.address, timeout=120) as c:
        yield c


def answer(client: Client, adapter: str) -> tuple[str, str]:
    reply = client.generate(messages=QUESTION, adapter=adapter, max_new_tokens=16)
    return reply.text, reply.adapter


def version_of(info: adapters_pb2.AdapterInfo, version: int) -> adapters_pb2.AdapterVersion:
    return next(v for v in info.versions if v.version == version)


def test_each_adapter_answers_with_its_word_and_the_base_is_unchanged(admin):
    assert answer(admin, "banana") == ("banana", "banana@1")
    assert answer(admin, "cherry@1") == ("cherry", "cherry@1")
    text, adapter = answer(admin, "")
    assert adapter == "" and "Everest" in text


def test_unknown_and_malformed_adapters(admin):
    with pytest.raises(errors.NotFoundError, match="'durian' is not in the adapter store"):
        answer(admin, "durian")
    with pytest.raises(errors.NotFoundError, match="has no version 9"):
        answer(admin, "banana@9")
    with pytest.raises(errors.InvalidArgumentError) as info:
        answer(admin, "../etc/passwd")
    assert info.value.field == "adapter"


def test_list_adapters_reports_state_and_tier(admin):
    answer(admin, "banana")
    infos = {a.name: a for a in admin.list_adapters()}
    banana = infos["banana"]
    assert banana.current_version == 1 and banana.serving_version == 1
    v1 = version_of(banana, 1)
    assert v1.state == adapters_pb2.ADAPTER_STATE_LOADED and v1.tier == adapters_pb2.ADAPTER_TIER_DEVICE
    assert v1.rank == 8 and v1.content_hash and v1.active_requests == 0


def test_publishing_a_new_version_swaps_without_a_restart(admin, store, trained_adapters, base_spec):
    publish(store, trained_adapters["banana"], "swap", base_spec)
    wait_for(lambda: admin.get_adapter("swap").serving_version == 1)
    assert answer(admin, "swap") == ("banana", "swap@1")
    publish(store, trained_adapters["cherry"], "swap", base_spec)
    wait_for(lambda: answer(admin, "swap")[1] == "swap@2", timeout=5, what="publish to serving within seconds")
    assert answer(admin, "swap") == ("cherry", "swap@2")
    assert answer(admin, "swap@1") == ("banana", "swap@1"), "a pinned version still answers"


def test_a_refused_version_is_visible_and_the_previous_one_keeps_serving(admin, store, trained_adapters, base_spec, adapter_server, caplog):
    publish(store, trained_adapters["banana"], "guarded", base_spec)
    wait_for(lambda: admin.get_adapter("guarded").serving_version == 1)
    broken = store.root / "guarded-broken-src"
    shutil.copytree(trained_adapters["cherry"], broken)
    (broken / "adapter_model.safetensors").write_bytes(b"truncated")
    manifest = json.loads(store.manifest("guarded", 1).model_dump_json())
    from common.adapter_manifest import AdapterManifest

    with caplog.at_level(logging.WARNING, logger="server.adapters.manager"):
        store.publish(broken, AdapterManifest.model_validate(manifest))
        wait_for(lambda: version_of(admin.get_adapter("guarded"), 2).state == adapters_pb2.ADAPTER_STATE_REFUSED)
    info = admin.get_adapter("guarded")
    refused = version_of(info, 2)
    assert refused.refusal_reason == "weights" and "not safetensors" in refused.last_error
    assert info.current_version == 2 and info.serving_version == 1
    assert answer(admin, "guarded") == ("banana", "guarded@1")
    with pytest.raises(errors.FailedPreconditionError, match="truncated or not safetensors"):
        answer(admin, "guarded@2")
    assert any(r.msg == "adapter refused" and r.reason == "weights" for r in caplog.records)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{adapter_server.server.metrics_port}/metrics").read().decode()
    assert 'tuneserve_adapter_load_failures_total{reason="weights"}' in metrics


def test_set_current_rolls_back_and_refuses_a_bad_target(admin, store, trained_adapters, base_spec):
    publish(store, trained_adapters["banana"], "rolling", base_spec)
    publish(store, trained_adapters["cherry"], "rolling", base_spec)
    wait_for(lambda: admin.get_adapter("rolling").serving_version == 2)
    info = admin.set_current_version("rolling", 1)
    assert info.current_version == 1 and info.serving_version == 1
    assert answer(admin, "rolling") == ("banana", "rolling@1"), "the rollback holds as soon as the call returns"
    broken = store.root / "rolling-broken"
    shutil.copytree(trained_adapters["cherry"], broken)
    from common.adapter_manifest import AdapterManifest

    bad = AdapterManifest.model_validate({**json.loads(store.manifest("rolling", 1).model_dump_json()), "base_fingerprint": "0" * 32})
    store.publish(broken, bad, make_current=False)
    with pytest.raises(errors.FailedPreconditionError, match="trained on base"):
        admin.set_current_version("rolling", 3)
    assert admin.get_adapter("rolling").current_version == 1, "a refused version never becomes current"


def test_unload_frees_memory_and_the_next_request_reloads(admin):
    answer(admin, "cherry")
    info = admin.unload_adapter("cherry@1")
    assert version_of(info, 1).state == adapters_pb2.ADAPTER_STATE_STORED and version_of(info, 1).tier == adapters_pb2.ADAPTER_TIER_DISK
    assert answer(admin, "cherry") == ("cherry", "cherry@1")
    assert version_of(admin.load_adapter("cherry"), 1).state == adapters_pb2.ADAPTER_STATE_LOADED


def test_requests_in_flight_finish_on_the_version_they_started_with(admin, store, trained_adapters, base_spec):
    publish(store, trained_adapters["banana"], "inflight", base_spec)
    wait_for(lambda: admin.get_adapter("inflight").serving_version == 1)
    result: dict[str, object] = {}

    def long_request() -> None:
        result["reply"] = admin.generate("Once upon a time", adapter="inflight", max_new_tokens=120, min_new_tokens=120)

    thread = threading.Thread(target=long_request)
    thread.start()
    wait_for(lambda: version_of(admin.get_adapter("inflight"), 1).active_requests == 1)
    publish(store, trained_adapters["cherry"], "inflight", base_spec)
    wait_for(lambda: admin.get_adapter("inflight").serving_version == 2)
    assert answer(admin, "inflight") == ("cherry", "inflight@2")
    assert version_of(admin.get_adapter("inflight"), 1).state == adapters_pb2.ADAPTER_STATE_LOADED, "still in use"
    thread.join()
    assert result["reply"].adapter == "inflight@1" and result["reply"].usage.generated_tokens == 120
    wait_for(lambda: version_of(admin.get_adapter("inflight"), 1).state == adapters_pb2.ADAPTER_STATE_STORED)


def test_cli_imports_a_plain_peft_directory(adapter_server, trained_adapters, tmp_path):
    target = ["--server", adapter_server.address]
    out = subprocess.run(
        [tool("tuneserve"), *target, "adapters", "import", str(trained_adapters["cherry"]), "--name", "imported"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "imported imported@1 (rank 4, q_proj, v_proj)" in out.stdout
    with Client(adapter_server.address) as client:
        assert answer(client, "imported") == ("cherry", "imported@1")
    listing = subprocess.run([tool("tuneserve"), *target, "adapters", "list"], capture_output=True, text=True, timeout=60)
    assert "imported" in listing.stdout and "current, serving" in listing.stdout
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text((trained_adapters["cherry"] / "adapter_config.json").read_text())
    (pickled / "adapter_model.bin").write_bytes(b"\x80\x04")
    out = subprocess.run(
        [tool("tuneserve"), *target, "adapters", "import", str(pickled), "--name", "pickled"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "only pickle weights" in out.stderr


def test_import_refuses_an_adapter_for_another_architecture(admin, trained_adapters, tmp_path):
    other = tmp_path / "gpt2-style"
    shutil.copytree(trained_adapters["cherry"], other)
    config = json.loads((other / "adapter_config.json").read_text())
    config["target_modules"] = ["c_attn"]
    (other / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(errors.InvalidArgumentError, match="c_attn"):
        admin.import_adapter(str(other), "gpt2-style")


def test_servers_without_a_store_say_so(client):
    with pytest.raises(errors.FailedPreconditionError, match="--adapter-store"):
        client.list_adapters()
    with pytest.raises(errors.NotFoundError, match="no adapter store"):
        client.generate("hi", adapter="banana")


@pytest.mark.slow
def test_hot_swaps_under_load_never_fail_a_request(adapter_server, store, trained_adapters, base_spec):
    """Clients keep asking for `x` while versions are published and rolled back over and over.

    A version counts as current from the moment the call that made it current started until the
    call that replaced it returned; every answer must come from a version current at some point
    while its request ran, and carry that version's word.
    """
    words = {"banana": "banana", "cherry": "cherry"}
    publish(store, trained_adapters["banana"], "x", base_spec)
    with Client(adapter_server.address) as admin:
        wait_for(lambda: admin.get_adapter("x").serving_version == 1)
    word_of = {1: "banana"}
    current_since: dict[int, list[tuple[float, float]]] = {1: [(0.0, float("inf"))]}
    answers: list[tuple[float, float, str, str]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def client_loop() -> None:
        with Client(adapter_server.address, retries=0) as c:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    reply = c.generate(messages=QUESTION, adapter="x", max_new_tokens=6)
                except BaseException as exc:  # noqa: BLE001 - every failure is a test failure
                    failures.append(exc)
                    return
                answers.append((start, time.monotonic(), reply.adapter, reply.text))

    def make_current(admin: Client, version: int, previous: int) -> None:
        started = time.monotonic()
        admin.set_current_version("x", version)
        ended = time.monotonic()
        intervals = current_since[previous]
        intervals[-1] = (intervals[-1][0], ended)
        current_since.setdefault(version, []).append((started, float("inf")))

    clients = [threading.Thread(target=client_loop) for _ in range(4)]
    for t in clients:
        t.start()
    with Client(adapter_server.address) as admin:
        current = 1
        for step in range(8):
            name = "cherry" if step % 2 == 0 else "banana"
            version = publish(store, trained_adapters[name], "x", base_spec, make_current=False)
            word_of[version] = words[name]
            make_current(admin, version, current)
            current = version
            time.sleep(0.5)
            if step % 2 == 1:  # roll back one version, then forward again
                make_current(admin, version - 1, current)
                current = version - 1
                time.sleep(0.5)
    stop.set()
    for t in clients:
        t.join()
    assert not failures, failures[:3]
    assert len(answers) >= 24
    served = set()
    for start, end, adapter, text in answers:
        version = int(adapter.split("@")[1])
        served.add(version)
        assert text == word_of[version], (adapter, text)
        assert any(s <= end and start <= e for s, e in current_since[version]), f"{adapter} was not current during [{start}, {end}]"
    assert len(served) >= 4, "the clients saw the swaps"


def test_prefix_cache_is_keyed_by_adapter_version(admin, store, trained_adapters, base_spec):
    """The same long prompt reuses its KV within a version, never across versions.

    Versions with identical files share a content hash, so the chat template's opening block may
    already be cached from other tests that used the same weights; the question itself may not.
    """
    publish(store, trained_adapters["banana"], "cached", base_spec)
    wait_for(lambda: admin.get_adapter("cached").serving_version == 1)
    long_question = [{"role": "user", "content": "Tell me about the prefix cache and mountains. " * 12}]
    first = admin.generate(messages=long_question, adapter="cached", max_new_tokens=4)
    second = admin.generate(messages=long_question, adapter="cached", max_new_tokens=4)
    assert first.usage.cached_prompt_tokens <= 16 and second.usage.cached_prompt_tokens >= 128
    assert first.token_ids == second.token_ids and second.text.startswith("banana")
    publish(store, trained_adapters["cherry"], "cached", base_spec)
    wait_for(lambda: admin.get_adapter("cached").serving_version == 2)
    swapped = admin.generate(messages=long_question, adapter="cached", max_new_tokens=4)
    assert swapped.adapter == "cached@2" and swapped.usage.cached_prompt_tokens <= 16, "no stale KV from version 1"
    assert swapped.text.startswith("cherry")
    base = admin.generate(messages=long_question, max_new_tokens=4)
    assert base.usage.cached_prompt_tokens <= 16 and "banana" not in base.text and "cherry" not in base.text


def metric_value(server: BackgroundServer, line_prefix: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics").read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_prefix))


def test_odd_store_entries_affect_only_their_own_name(admin, store, trained_adapters, base_spec, adapter_server):
    manager = adapter_server.server.state.require().adapters
    publish(store, trained_adapters["banana"], "odd", base_spec)
    wait_for(lambda: admin.get_adapter("odd").serving_version == 1)
    (store.root / "odd" / "²").mkdir()
    (store.root / "odd" / "²" / "tuneserve.json").write_text("{}")
    for pointer in ["4294967296", "12345678901234567890", "²", "١", "7" * 5000]:
        (store.root / "odd" / "current").write_text(pointer)
        adapter_server.run(manager.refresh())  # what the watcher does at its next poll
        info = admin.get_adapter("odd")
        assert info.current_version == 0 and info.serving_version == 1 and [v.version for v in info.versions] == [1]
        assert {a.name for a in admin.list_adapters()} >= {"odd", "banana", "cherry"}
        assert answer(admin, "odd") == ("banana", "odd@1")
    (store.root / "odd" / "current").write_text("1\n")
    publish(store, trained_adapters["cherry"], "odd", base_spec)  # hot-swap still works, for this name and the others
    wait_for(lambda: answer(admin, "odd")[1] == "odd@2")
    publish(store, trained_adapters["cherry"], "watched", base_spec)
    wait_for(lambda: admin.get_adapter("watched").serving_version == 1)


def test_a_copied_version_directory_is_refused_and_leaks_nothing(admin, store, trained_adapters, base_spec):
    publish(store, trained_adapters["banana"], "fruit", base_spec)
    wait_for(lambda: admin.get_adapter("fruit").serving_version == 1)
    shutil.copytree(store.path("fruit", 1), store.root / "fruit" / "23")
    store.set_current("fruit", 23)
    wait_for(lambda: version_of(admin.get_adapter("fruit"), 23).state == adapters_pb2.ADAPTER_STATE_REFUSED)
    info = admin.get_adapter("fruit")
    assert version_of(info, 23).refusal_reason == "manifest" and "lies in fruit/23" in version_of(info, 23).last_error
    assert info.serving_version == 1 and answer(admin, "fruit") == ("banana", "fruit@1")
    assert version_of(admin.get_adapter("fruit"), 1).active_requests == 0, "every request released the version it held"
    assert admin.set_current_version("fruit", 1).current_version == 1


def test_a_version_directory_that_is_a_link_is_refused_with_its_reason(admin, store, trained_adapters, base_spec, tmp_path):
    outside = tmp_path / "outside"
    publish(FileAdapterStore(tmp_path / "other-store"), trained_adapters["banana"], "linked", base_spec)
    shutil.copytree(tmp_path / "other-store" / "linked" / "1", outside)
    (store.root / "linked").mkdir()
    (store.root / "linked" / "1").symlink_to(outside)
    with pytest.raises(errors.FailedPreconditionError, match="symbolic link"):
        admin.load_adapter("linked@1")
    assert version_of(admin.get_adapter("linked"), 1).refusal_reason == "path"


def test_import_refusals_are_counted_with_their_reason(admin, adapter_server, trained_adapters, tmp_path):
    before = metric_value(adapter_server, 'tuneserve_adapter_load_failures_total{reason="target_modules"}')
    other = tmp_path / "gpt2-style"
    shutil.copytree(trained_adapters["cherry"], other)
    config = json.loads((other / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["c_attn"]}))
    with pytest.raises(errors.InvalidArgumentError):
        admin.import_adapter(str(other), "gpt2-style")
    assert metric_value(adapter_server, 'tuneserve_adapter_load_failures_total{reason="target_modules"}') == before + 1


def test_the_import_command_refuses_a_linked_file(adapter_server, trained_adapters, tmp_path):
    linked = tmp_path / "linked"
    shutil.copytree(trained_adapters["cherry"], linked, ignore=shutil.ignore_patterns("checkpoints"))
    (linked / "README.md").unlink(missing_ok=True)
    (linked / "README.md").symlink_to("/etc/passwd")
    out = subprocess.run(
        [tool("tuneserve"), "--server", adapter_server.address, "adapters", "import", str(linked), "--name", "leaky"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "README.md" in out.stderr and "symbolic link" in out.stderr
    with Client(adapter_server.address) as client:
        assert "leaky" not in {a.name for a in client.list_adapters()}

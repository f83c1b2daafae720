"""The decode step's background compile, given its head start by a child process that fills
torch.compile's caches (server.compile_cache_child). Mechanics, on a tiny random Llama: what
is checked is which process compiles, not what the model says."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
from torch._dynamo.utils import counters

from server.compile_cache_child import CompileCacheChild
from server.config import ServerSettings
from tests.background import BackgroundServer
from tests.conftest import server_settings


def tiny_settings(tiny_llama_dir, tmp_path, **overrides) -> ServerSettings:
    values = dict(
        model=str(tiny_llama_dir), dtype="float32", quantization="none", max_model_len=512, max_batch_size=4, kv_cache_memory_mb=16
    )
    return server_settings(tmp_path / "cache", **{**values, **overrides})


@pytest.mark.slow
def test_the_servers_background_compile_only_loads_what_the_child_compiled(tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # empty, as on a new pod
    counters.clear()
    settings = tiny_settings(tiny_llama_dir, tmp_path, compile_decode="auto", adapter_store=tmp_path / "adapters")
    with BackgroundServer(settings) as running:
        engine = running.server.state.require().engine
        assert engine.decode_step.startswith("eager while the decode step compiles")
        engine.wait_compiled(600)
        assert engine.decode_graph is not None, engine.decode_step
        child = engine.compile_prelude
        assert isinstance(child, CompileCacheChild) and child.seconds is not None, "the child compiled first"
    # in this (the server's) process every graph came from the caches the child filled
    assert counters["inductor"]["fxgraph_cache_miss"] == 0, dict(counters["inductor"])
    assert counters["aot_autograd"]["autograd_cache_hit"] + counters["inductor"]["fxgraph_cache_hit"] > 0
    assert any((tmp_path / "inductor").iterdir())


def test_without_the_child_the_server_compiles_alone(tiny_llama_dir, tmp_path):
    for overrides in ({"compile_in_child": False, "compile_decode": "auto"}, {"compile_decode": "off"}):
        with BackgroundServer(tiny_settings(tiny_llama_dir, tmp_path, **overrides)) as running:
            engine = running.server.state.require().engine
            assert engine.compile_prelude is None
            engine.wait_compiled(600)  # no compile left running into the next test


def test_a_failing_child_is_logged_and_the_server_compiles_alone(tiny_llama_dir, tmp_path, caplog):
    settings = tiny_settings(tiny_llama_dir, tmp_path, model=str(tmp_path / "no-such-model"))
    child = CompileCacheChild(settings)
    with caplog.at_level(logging.WARNING, "server.compile_cache_child"):
        child.run()
    assert child.seconds is None
    (record,) = [r for r in caplog.records if "compile cache child failed" in r.getMessage()]
    assert record.exit_code != 0 and "no-such-model" in record.stderr, "the log says why"


def test_a_stopping_server_kills_its_child(tiny_llama_dir, tmp_path, caplog):
    child = CompileCacheChild(tiny_settings(tiny_llama_dir, tmp_path))
    runner = threading.Thread(target=child.run)
    with caplog.at_level(logging.WARNING, "server.compile_cache_child"):
        runner.start()
        while child._child is None:
            time.sleep(0.05)
        child.cancel()
        runner.join(30)
    assert not runner.is_alive() and child._child.returncode is not None and child.seconds is None
    assert not [r for r in caplog.records if "child" in r.getMessage()], "a cancelled child is no failure"
    child.run()  # once cancelled, it starts nothing
    assert child.seconds is None


def test_a_child_whose_server_is_gone_exits(tiny_llama_dir, tmp_path):
    settings = tiny_settings(tiny_llama_dir, tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "server.compile_cache_child"], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert child.stdin is not None
    child.stdin.write(settings.model_dump_json() + "\n")
    child.stdin.flush()
    child.stdin.close()  # as when the server dies: nobody holds the pipe's other end
    assert child.wait(60) == 3

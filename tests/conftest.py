"""Shared fixtures: the real embedded model, loaded once per session, and a real server on loopback."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.threads import release_openmp_threads, run_on_fresh_thread
from tests.background import BackgroundServer


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Fixtures that train real adapters first: every test using one (directly or through another
# fixture) is an end-to-end test, and `make test-fast` skips it.
TRAINING_FIXTURES = {"trained_adapters"}

# The files whose tests use them, run by one pytest-xdist worker as one unit of work, so that the
# adapters are trained once, not once in each worker (about a CPU-minute each on two cores).
# Collection refuses a file that uses them and is missing here.
TRAINED_ADAPTERS = "trained adapters"  # the name of their unit
TRAINING_FILES = {
    "tests/server/adapters/test_adapter_loader.py",
    "tests/server/adapters/test_lora.py",
    "tests/server/api/test_adapters_api.py",
    "tests/server/api/test_model_server_protocol.py",
    "tests/server/api/test_openai_api.py",
    "tests/server/api/test_replicas_api.py",
    "tests/server/api/test_rollouts_api.py",
    "tests/server/test_object_store_replicas.py",
    "tests/test_api_fuzz.py",
}


# The units of work that take longest under `make test` (per-file --durations=0 on 2 cores), handed
# out first: xdist gives a worker its next file when it runs short, so a long file left to the end
# keeps one worker busy while the other idles. Units not named follow in collection order; the
# list orders the run, it never selects or skips.
LONGEST_FIRST = [
    TRAINED_ADAPTERS,
    "tests/trainer/test_training.py",
    "tests/server/test_gemma3_gguf.py",
    "tests/server/engine/test_quality.py",
    "tests/trainer/test_trainer_service.py",
    "tests/trainer/test_process_executor.py",
    "tests/server/api/test_tasks_api.py",
    "tests/server/api/test_structured_output.py",
    "tests/mechanics/test_engine_mechanics.py",
    "tests/server/engine/test_cuda_graph.py",
    "tests/server/engine/test_engine.py",
    "tests/common/test_base_model.py",
    "tests/server/test_app.py",
    "tests/server/api/test_openai_fine_tuning.py",
    "tests/trainer/test_shared_queue.py",
]


def work_unit(path: str) -> str:
    """The unit of work of a test file under `make test` (TrainingFilesTogether)."""
    return TRAINED_ADAPTERS if path in TRAINING_FILES else path


def longest_first(paths: list[str]) -> list[int]:
    """Indices of `paths` (the test files of collected items, in order) with the units of
    LONGEST_FIRST first, in its order; a stable sort, so each file's tests keep their order."""
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    return sorted(range(len(paths)), key=lambda i: rank.get(work_unit(paths[i]), len(rank)))


# The fast tier (`make test-mechanics`, marker `mechanics`): tests of the mechanics that need no
# real model, only a tiny random one (tests/mechanics) or none; under two minutes on 2 cores.
MECHANICS_FILES = {
    "tests/mechanics/test_engine_mechanics.py",
    "tests/server/engine/test_scheduler.py",
    "tests/server/engine/test_kv_cache.py",
    "tests/server/engine/test_sampling.py",
    "tests/server/engine/test_kernels.py",
    "tests/server/engine/test_stop_strings.py",
    "tests/server/adapters/test_adapter_cache_policy.py",
    "tests/server/adapters/test_rollouts.py",
    "tests/common/test_rollout.py",
    "tests/trainer/test_eval_metrics.py",
    "tests/test_docs.py",
}
ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(tryfirst=True)  # marks slow before `-m` selects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    training = set()
    paths = []
    for item in items:
        path = item.path.relative_to(ROOT).as_posix()
        paths.append(path)
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
            training.add(path)
        if path in MECHANICS_FILES and "slow" not in item.keywords:
            item.add_marker(pytest.mark.mechanics)
    if training - TRAINING_FILES:
        raise pytest.UsageError(f"add {sorted(training - TRAINING_FILES)} to TRAINING_FILES in tests/conftest.py")
    if gone := [unit for unit in LONGEST_FIRST if unit != TRAINED_ADAPTERS and not (ROOT / unit).is_file()]:
        raise pytest.UsageError(f"{gone} in LONGEST_FIRST (tests/conftest.py) are no files: rename or remove them")
    if hasattr(config, "workerinput"):  # an xdist worker: its order is the order units are handed out in
        items[:] = [items[i] for i in longest_first(paths)]
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class TrainingFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(super()._split_scope(nodeid))

    config.option.loadscopereorder = False  # xdist would put units with the most tests first instead
    return TrainingFilesTogether(config, log)


@pytest.fixture(autouse=True)
def _release_openmp() -> Iterator[None]:
    # A test that ran parallel torch ops on the main thread leaves an OpenMP team there, which
    # makes every engine thread started later twice as slow on a 2-core machine.
    yield
    release_openmp_threads()


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    from common.settings import default_cache_dir

    return Path(os.environ.get("TUNESERVE_CACHE_DIR", default_cache_dir()))


@pytest.fixture(scope="session")
def base_model(cache_dir: Path):
    """The embedded SmolLM2-135M-Instruct in float32, unquantized, loaded once for the whole session.

    Float32, not the automatic precision: the tests compare outputs token for token with
    transformers and PEFT, alone and batched, which holds only at one precision. The automatic
    choice (bf16 and int4 on this CPU) is checked against float32 in tests/server/engine/test_quality.py.
    """
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    settings = ModelSettings(cache_dir=cache_dir, dtype="float32", quantization="none")
    return run_on_fresh_thread(lambda: load_base_model(settings))


@pytest.fixture(scope="session")
def auto_model(cache_dir: Path):
    """The embedded model at the precision the server picks by itself, as users run it (bf16 with
    int4 decode weights on this project's CPUs), loaded once for the session. For tests that compare
    no tokens with transformers or across batches, which the float32 `base_model` is for; here they
    run several times faster. Whoever compiles or serves it leaves its weights as they were."""
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    return run_on_fresh_thread(lambda: load_base_model(ModelSettings(cache_dir=cache_dir)))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A tiny random Llama (tests/tiny_model.py), built once, for tests of process mechanics (kills,
    leases, retries, load balancing, DDP) whose meaning does not depend on the model: on it a
    trainer's run or a server's answer costs milliseconds, and what the test times is processes."""
    from tests.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


# Servers started outside a test's tmp_path keep their records here, removed when the process exits.
EXPERIMENT_DBS = tempfile.TemporaryDirectory(prefix="tuneserve-experiments-")


def server_settings(cache_dir: Path, **overrides):
    from server.config import ServerSettings

    values = dict(
        port=0,
        metrics_port=0,
        http_port=0,
        cache_dir=cache_dir,
        kv_cache_memory_mb=256,
        max_model_len=2048,
        max_batch_size=16,
        max_waiting=64,
        log_format="text",
        warmup=False,
        compile_decode="off",  # minutes of start-up; tests/server/engine/test_decode_graph.py covers it
    )
    values.update(overrides)
    if values.get("experiment_db") is None:  # each server its own record, never the user's cache
        values["experiment_db"] = Path(tempfile.mkdtemp(dir=EXPERIMENT_DBS.name)) / "experiments.sqlite"
    return ServerSettings(**values)


@contextlib.contextmanager
def running_server(base_model, cache_dir: Path, **settings) -> Iterator[BackgroundServer]:
    """A real tuneserve server on a free loopback port with the session's model, stopped afterwards."""
    with BackgroundServer(server_settings(cache_dir, **settings), base_model) as running:
        yield running


@pytest.fixture(scope="session")
def server(base_model, cache_dir: Path):
    """The session's plain server (no adapter store, no tasks)."""
    with running_server(base_model, cache_dir, warmup=True) as running:
        yield running


@pytest.fixture(scope="session")
def auto_server(auto_model, cache_dir: Path):
    """The same on `auto_model`."""
    with running_server(auto_model, cache_dir, warmup=True) as running:
        yield running


@contextlib.contextmanager
def client_of(server: BackgroundServer) -> Iterator:
    from tuneserve_client import Client

    with Client(server.address, timeout=120) as client:
        yield client


@pytest.fixture()
def client(server):
    with client_of(server) as c:
        yield c


@pytest.fixture()
def auto_client(auto_server):
    with client_of(auto_server) as c:
        yield c


@pytest.fixture(scope="session")
def trained_adapters(tmp_path_factory, cache_dir: Path, base_model) -> dict[str, Path]:
    """Two real adapters trained on the embedded model: different ranks and target modules.

    banana: rank 8 on every linear layer; cherry: rank 4 on q_proj and v_proj only.
    """
    from tests.adapter_training import train_word_adapter

    root = tmp_path_factory.mktemp("adapters")
    return {
        "banana": train_word_adapter(cache_dir, root / "banana", "banana", rank=8, steps=8),
        "cherry": train_word_adapter(cache_dir, root / "cherry", "cherry", rank=4, targets=["q_proj", "v_proj"], steps=10, lr=5e-3),
    }


@pytest.fixture(scope="session")
def base_spec(base_model):
    from server.adapters.loader import BaseSpec

    return BaseSpec.from_base(base_model)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL on loopback for the session (tests/postgres.py); skips without the binaries."""
    from tests.postgres import Postgres, PostgresMissing

    try:
        cluster = Postgres()
    except PostgresMissing as missing:
        if os.environ.get("TUNESERVE_REQUIRE_TOOLS") == "1":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    yield cluster
    cluster.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh database of each kind: an SQLite file, and a database in the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture(scope="session")
def object_store():
    """A real S3-compatible endpoint (moto's server) on loopback for the session, its credentials in
    this process's environment as a replica would have them (tests/object_store.py)."""
    from tests.object_store import ObjectStore, use

    store = ObjectStore()
    saved = {key: os.environ.get(key) for key in store.env()}
    use(store)
    yield store
    store.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

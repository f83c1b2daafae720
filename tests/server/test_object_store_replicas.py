"""Three real servers (127.0.0.1, .2, .3) on one bucket (moto's S3 server over HTTP) and one
PostgreSQL catalog, each with its own local cache: an import through one replica is served by all
three, told by notification (their fallback poll is an hour); a blob changed in the bucket is
refused while everything else serves; a replica with an empty cache serves 32 adapters at once."""

from __future__ import annotations

import contextlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tuneserve_client import Client
from tuneserve_client.errors import FailedPreconditionError, NotFoundError

from common.adapter_store import open_adapter_store
from common.blob_store import BucketPrefix
from tests.adapter_training import publish
from tests.conftest import running_server
from tests.waiting import wait_for

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
QUESTION = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def shared(object_store, postgres):
    return object_store.bucket(), postgres.create_database()


def replica_settings(location: str, url: str) -> dict:
    return dict(adapter_store=location, database_url=url, adapter_catalog_poll_s=3600, max_loras=8)


@pytest.fixture(scope="module")
def replicas(base_model, shared, tmp_path_factory):
    location, url = shared
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                running_server(base_model, tmp_path_factory.mktemp(f"replica-{n}"), host=host, **replica_settings(location, url))
            )
            for n, host in enumerate(HOSTS)
        ]


def answer(address: str, adapter: str) -> str:
    with Client(address, timeout=120) as client:
        return client.generate(messages=QUESTION, adapter=adapter, max_new_tokens=8, temperature=0).text


def serving(address: str, name: str) -> int:
    with Client(address, timeout=30) as client:
        try:
            return client.get_adapter(name).serving_version
        except NotFoundError:
            return 0


def test_an_import_through_one_replica_is_served_by_all_three(replicas, trained_adapters):
    addresses = [r.address for r in replicas]
    with Client(addresses[0], timeout=120) as client:
        assert client.import_adapter(str(trained_adapters["banana"]), "fruit").version == 1
    for address in addresses:
        wait_for(lambda a=address: serving(a, "fruit") == 1, 30, what=f"fruit@1 on {address}")
    first = {answer(address, "fruit") for address in addresses}
    assert len(first) == 1, first

    with Client(addresses[1], timeout=120) as client:
        assert client.import_adapter(str(trained_adapters["cherry"]), "fruit").version == 2
    for address in addresses:
        wait_for(lambda a=address: serving(a, "fruit") == 2, 30, what=f"fruit@2 on {address}")
    second = {answer(address, "fruit") for address in addresses}
    assert len(second) == 1 and second != first, (first, second)
    assert {answer(address, "fruit@1") for address in addresses} == first, "pinned versions still come from the bucket"


def test_a_blob_changed_in_the_bucket_is_refused_and_the_rest_serves(replicas, shared, object_store, trained_adapters, base_spec, tmp_path):
    location, url = shared
    store = open_adapter_store(location, database_url=url, database_password_file=None, cache_dir=tmp_path, cache_bytes=2**30)
    copy = Path(shutil.copytree(trained_adapters["banana"], tmp_path / "tampered"))
    config = json.loads((copy / "adapter_config.json").read_text())
    (copy / "adapter_config.json").write_text(json.dumps({**config, "revision": "tampered"}))
    version = publish(store, copy, "kiwi", base_spec, make_current=False)
    publish(store, trained_adapters["banana"], "kiwi", base_spec, make_current=True)
    digest = store.manifest("kiwi", version).files["adapter_config.json"]
    where = BucketPrefix.parse(location)
    object_store.client().put_object(Bucket=where.bucket, Key=f"{where.prefix}blobs/sha256/{digest}", Body=b'{"r": 64}')

    addresses = [r.address for r in replicas]
    for address in addresses:
        wait_for(lambda a=address: serving(a, "kiwi") == version + 1, 30, what=f"kiwi@{version + 1} on {address}")
    with Client(addresses[2], timeout=120) as client:
        with pytest.raises(FailedPreconditionError, match="does not match its sha256"):
            client.set_current_version("kiwi", version)
        info = client.get_adapter("kiwi")
        assert info.current_version == version + 1 and info.serving_version == version + 1
        assert [v.refusal_reason for v in info.versions if v.version == version] == ["checksum"]
    assert {answer(address, "kiwi") for address in addresses} == {answer(addresses[0], "fruit@1")}, "banana answers on"


def test_a_replica_with_an_empty_cache_serves_32_adapters_at_once(base_model, shared, trained_adapters, base_spec, tmp_path):
    location, url = shared
    store = open_adapter_store(location, database_url=url, database_password_file=None, cache_dir=tmp_path / "publisher", cache_bytes=2**30)
    kinds = ["banana", "cherry"]
    for n in range(32):
        publish(store, trained_adapters[kinds[n % 2]], f"many-{n}", base_spec)
    with running_server(base_model, tmp_path / "fresh", host="127.0.0.4", **replica_settings(location, url)) as fresh:
        cache = tmp_path / "fresh" / "adapter-cache"
        assert not any(cache.rglob("adapter_model.safetensors")), "nothing cached before the workload"
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda n: answer(fresh.address, f"many-{n}"), range(32)))
        expected = {kind: answer(fresh.address, f"many-{n}") for n, kind in enumerate(kinds)}
        assert answers == [expected[kinds[n % 2]] for n in range(32)]
        assert expected["banana"] != expected["cherry"]
        assert len(list(cache.glob("*/many-*/1/adapter_model.safetensors"))) == 32, "each version fetched into the cache"

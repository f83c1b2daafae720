"""The adapter store on object storage: blobs in a real S3-compatible server (moto's, over HTTP), the
catalog in a real database (SQLite and PostgreSQL), the verified local cache, notifications."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from common.adapter_cache import CachedCopy, cache_evictions
from common.adapter_manifest import AdapterManifest, AdapterRef
from common.adapter_store import open_adapter_store
from common.blob_store import BlobCorrupt, BlobMissing, BucketPrefix, ObjectStoreUnavailable
from common.errors import FailedPrecondition, InvalidRequest, NotFound
from common.object_adapter_store import ObjectAdapterStore
from common.rollout import RolloutPolicy
from tests.common.test_adapter_store import draft, source


def open_store(location: str, database_url: str, cache: Path, cache_bytes: int = 2**20) -> ObjectAdapterStore:
    store = open_adapter_store(location, database_url=database_url, database_password_file=None, cache_dir=cache, cache_bytes=cache_bytes)
    assert isinstance(store, ObjectAdapterStore)
    return store


@pytest.fixture()
def location(object_store) -> str:
    return object_store.bucket()


def blob_key(location: str, digest: str) -> tuple[str, str]:
    where = BucketPrefix.parse(location)
    return where.bucket, f"{where.prefix}blobs/sha256/{digest}"


def test_publish_stores_blobs_by_hash_and_records_the_version_in_the_catalog(object_store, location, database_url, tmp_path):
    store = open_store(location, database_url, tmp_path / "a")
    assert store.publish(source(tmp_path), draft()) == 1
    assert store.publish(source(tmp_path, b"other"), draft(), make_current=False) == 2
    assert store.names() == ["sentiment"] and store.versions("sentiment") == [1, 2] and store.current("sentiment") == 1
    manifest = store.manifest("sentiment", 2)
    digest = hashlib.sha256(b"other").hexdigest()
    assert manifest.version == 2 and manifest.files["adapter_model.safetensors"] == digest
    bucket, key = blob_key(location, digest)
    assert object_store.client().get_object(Bucket=bucket, Key=key)["Body"].read() == b"other"
    # the same bytes again are one blob: the config file is shared by both versions
    listed = object_store.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert len(listed) == 3, [o["Key"] for o in listed]

    root = store.local_root("sentiment", 2)
    assert (root / "sentiment" / "2" / "adapter_model.safetensors").read_bytes() == b"other"
    assert AdapterManifest.model_validate_json((root / "sentiment" / "2" / "tuneserve.json").read_text()).version == 2


def test_a_second_replica_sees_publishes_pointer_moves_and_splits(location, database_url, tmp_path):
    writer = open_store(location, database_url, tmp_path / "a")
    reader = open_store(location, database_url, tmp_path / "b")
    writer.publish(source(tmp_path), draft())
    writer.publish(source(tmp_path, b"two"), draft(), make_current=False)
    reader.sync(force=True)
    assert reader.versions("sentiment") == [1, 2] and reader.current("sentiment") == 1
    writer.set_current("sentiment", 2)
    policy = RolloutPolicy(weights={1: 10, 2: 90})
    writer.set_rollout("sentiment", policy)
    reader.sync(force=True)
    assert reader.current("sentiment") == 2 and reader.rollout("sentiment") == policy
    assert reader.resolve(AdapterRef("sentiment")).version == 2
    assert reader.published_by("sentiment", "") == 2
    with pytest.raises(NotFound, match="has no version 9"):
        writer.set_current("sentiment", 9)
    with pytest.raises(NotFound, match="has no version 9"):
        writer.set_rollout("sentiment", RolloutPolicy(weights={1: 50, 9: 50}))
    with pytest.raises(FailedPrecondition, match="is the current version"):
        writer.delete("sentiment", 2)
    writer.set_rollout("sentiment", None)
    writer.delete("sentiment", 1)
    reader.sync(force=True)
    assert reader.versions("sentiment") == [2] and reader.rollout("sentiment") is None


def test_concurrent_publishes_from_two_replicas_get_distinct_versions(location, database_url, tmp_path):
    stores = [open_store(location, database_url, tmp_path / name) for name in "ab"]
    versions: list[int] = []
    errors: list[BaseException] = []

    def publish(store: ObjectAdapterStore, n: int) -> None:
        try:
            versions.append(store.publish(source(tmp_path, f"w{n}".encode()), draft()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(stores[n % 2], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(versions) == [1, 2, 3, 4, 5, 6]


def test_postgresql_notifies_every_listening_replica_at_once(location, postgres, tmp_path):
    url = postgres.create_database()
    writer = open_store(location, url, tmp_path / "a")
    reader = open_store(location, url, tmp_path / "b")
    reader.poll_s = 3600.0  # only a notification can tell it
    heard = threading.Event()
    stop = reader.listen(heard.set)
    assert stop is not None
    try:
        time.sleep(0.5)
        heard.clear()
        writer.publish(source(tmp_path), draft())
        assert heard.wait(2), "no notification within 2 s of the publish"
        reader.sync()
        assert reader.current("sentiment") == 1
    finally:
        stop()


def test_sqlite_catalog_is_polled(location, tmp_path):
    store = open_store(location, f"sqlite:///{tmp_path / 'catalog.sqlite'}", tmp_path / "a")
    assert store.listen(lambda: None) is None


def test_a_tampered_or_missing_blob_is_refused_and_a_damaged_cached_copy_is_fetched_again(object_store, location, tmp_path):
    store = open_store(location, f"sqlite:///{tmp_path / 'catalog.sqlite'}", tmp_path / "a")
    store.publish(source(tmp_path, b"good weights"), draft("good"))
    store.publish(source(tmp_path, b"weights to tamper"), draft("tampered"))
    store.publish(source(tmp_path, b"weights to lose"), draft("lost"))
    s3 = object_store.client()
    bucket, key = blob_key(location, hashlib.sha256(b"weights to tamper").hexdigest())
    s3.put_object(Bucket=bucket, Key=key, Body=b"weights tampered with")
    bucket, key = blob_key(location, hashlib.sha256(b"weights to lose").hexdigest())
    s3.delete_object(Bucket=bucket, Key=key)

    with pytest.raises(BlobCorrupt, match="does not match its sha256"):
        store.local_root("tampered", 1)
    with pytest.raises(BlobMissing, match="is missing"):
        store.local_root("lost", 1)
    assert not (store.cache.root / "tampered" / "1").exists(), "nothing unverified is kept"

    copy = store.local_root("good", 1) / "good" / "1" / "adapter_model.safetensors"
    copy.write_bytes(b"bit rot")
    assert (store.local_root("good", 1) / "good" / "1" / "adapter_model.safetensors").read_bytes() == b"good weights"


def test_the_cache_stays_within_its_budget_dropping_the_least_recently_used(location, tmp_path):
    store = open_store(location, f"sqlite:///{tmp_path / 'catalog.sqlite'}", tmp_path / "a", cache_bytes=3000)
    for n in range(4):
        store.publish(source(tmp_path, bytes([n]) * 1000), draft(f"a{n}"))
    for n in range(4):
        store.local_root(f"a{n}", 1)
        time.sleep(0.01)
    assert store.cache.nbytes() <= 3000
    assert not (store.cache.root / "a0" / "1").exists() and (store.cache.root / "a3" / "1").exists()
    store.local_root("a0", 1)  # fetched again on demand
    assert (store.cache.root / "a0" / "1").exists()


def test_what_the_cache_did_not_make_is_neither_counted_nor_removed(location, tmp_path):
    store = open_store(location, f"sqlite:///{tmp_path / 'catalog.sqlite'}", tmp_path / "a", cache_bytes=3900)
    for stray in ("²", "01", "9" * 200):
        (store.cache.root / "a0" / stray).mkdir(parents=True)
        (store.cache.root / "a0" / stray / "kept").write_bytes(b"x" * 4000)
    for n in range(2):
        store.publish(source(tmp_path, bytes([n]) * 1000), draft(f"a{n}"))
        store.local_root(f"a{n}", 1)
    assert (store.cache.root / "a0" / "1").exists() and (store.cache.root / "a1" / "1").exists(), "both fit the budget"
    assert 2000 <= store.cache.nbytes() <= 3900, "the strays (4000 bytes each) are not counted against it"
    assert all((store.cache.root / "a0" / stray / "kept").is_file() for stray in ("²", "01", "9" * 200))


def test_cache_evictions_policy():
    copies = [CachedCopy(("a", 1), 100, 1.0), CachedCopy(("b", 1), 100, 3.0), CachedCopy(("c", 1), 100, 2.0)]
    assert cache_evictions(copies, 300, set()) == []
    assert cache_evictions(copies, 200, set()) == [("a", 1)]
    assert cache_evictions(copies, 100, set()) == [("a", 1), ("c", 1)]
    assert cache_evictions(copies, 100, {("a", 1)}) == [("c", 1), ("b", 1)]
    assert cache_evictions(copies, 0, {("a", 1), ("b", 1), ("c", 1)}) == []


def test_publishing_refuses_pickles_and_links_as_on_disk(location, tmp_path):
    store = open_store(location, f"sqlite:///{tmp_path / 'catalog.sqlite'}", tmp_path / "a")
    directory = source(tmp_path)
    (directory / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(InvalidRequest, match="pickle files are never stored"):
        store.publish(directory, draft())
    assert store.names() == []


def test_opening_needs_a_database_and_a_usable_bucket(object_store, tmp_path):
    with pytest.raises(ValueError, match="set database_url"):
        open_adapter_store("s3://bucket/x", database_url=None, database_password_file=None, cache_dir=tmp_path, cache_bytes=2**20)
    with pytest.raises(ValueError, match="is not an S3 bucket name"):
        BucketPrefix.parse("s3://No_Such/x")
    with pytest.raises(FailedPrecondition, match="does not exist; create it first"):
        open_store("s3://no-such-bucket-here/x", f"sqlite:///{tmp_path / 'c.sqlite'}", tmp_path / "a")


def test_an_unreachable_object_store_is_unavailable_not_a_verdict(location, tmp_path, monkeypatch):
    store = open_store(location, f"sqlite:///{tmp_path / 'catalog.sqlite'}", tmp_path / "a")
    store.publish(source(tmp_path), draft())
    from common.blob_store import BlobStore
    from tests.tools import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store.blobs = BlobStore(store.blobs.where)
    with pytest.raises(ObjectStoreUnavailable, match="cannot fetch a blob now"):
        store.local_root("sentiment", 1)


def test_settings_open_the_store_by_location_with_the_cache_where_the_operator_put_it(location, tmp_path, monkeypatch):
    from server.config import ServerSettings

    monkeypatch.setenv("TUNESERVE_ADAPTER_STORE", location)
    monkeypatch.setenv("TUNESERVE_DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    monkeypatch.setenv("TUNESERVE_ADAPTER_CACHE_DIR", str(tmp_path / "volume"))
    monkeypatch.setenv("TUNESERVE_ADAPTER_CACHE_MB", "64")
    settings = ServerSettings()
    assert settings.adapter_store == location
    store = settings.open_adapter_store(settings.adapter_store, tmp_path / "read-only-image-cache")
    assert isinstance(store, ObjectAdapterStore)
    store.publish(source(tmp_path), draft())
    root = store.local_root("sentiment", 1)
    assert root.is_relative_to(tmp_path / "volume") and not (tmp_path / "read-only-image-cache").exists()

"""Immutable blobs named by their sha256, on any service that speaks the S3 API.

`s3://BUCKET/PREFIX` holds each file of each adapter version once, at `PREFIX/blobs/sha256/<hex>`,
written once and never changed, so replicas can cache them for good and two versions with the same
weights share one blob. boto3 finds the endpoint and credentials the standard way
(`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3` for an S3-compatible service, `AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY`, a web identity token in a cluster, ...). What is fetched is hashed while
it streams to disk: a blob whose bytes do not match its name is refused, never used.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.adapter_store import S3_SCHEME
from common.errors import FailedPrecondition, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
MISSING_CODES = ("404", "NoSuchKey", "NotFound")  # how S3-compatible services say "no such object"


class BlobMissing(FailedPrecondition):
    """The catalog names a blob the bucket does not hold."""


class BlobCorrupt(FailedPrecondition):
    """A blob's bytes do not hash to its name: changed in the bucket, or damaged on the way."""


class ObjectStoreUnavailable(Unavailable):
    """The object store cannot be reached or refused the call; retry later."""


@dataclass(frozen=True)
class BucketPrefix:
    bucket: str
    prefix: str  # "" or "a/b/" (ends with a slash)

    @classmethod
    def parse(cls, location: str, setting: str = "adapter_store") -> BucketPrefix:
        if not location.startswith(S3_SCHEME):
            raise ValueError(f"{location!r} is not an s3://BUCKET/PREFIX location")
        bucket, _, prefix = location[len(S3_SCHEME) :].partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ValueError(f"{setting} {location!r}: {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        prefix = prefix.strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise ValueError(f"{setting} {location!r}: the prefix may not have empty, '.' or '..' parts")
        return cls(bucket, f"{prefix}/" if prefix else "")

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}"


def s3_client() -> S3Client:
    """A client configured from the standard AWS variables, with short timeouts and bounded retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 4, "mode": "standard"})
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client("s3", region_name=region, config=config)


def unavailable(exc: Exception, what: str) -> ObjectStoreUnavailable:
    return ObjectStoreUnavailable(f"the object store cannot {what} now: {str(exc).splitlines()[0][:300]}")


def error_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class BlobStore:
    """Blobs under one bucket and prefix; safe to use from several threads (boto3 clients are)."""

    def __init__(self, where: BucketPrefix, client: S3Client | None = None) -> None:
        self.where = where
        self.client = client if client is not None else s3_client()

    def key(self, digest: str) -> str:
        if not _DIGEST.fullmatch(digest):
            raise BlobMissing(f"{digest[:80]!r} is not a sha256 digest")
        return f"{self.where.prefix}blobs/sha256/{digest}"

    def check_bucket(self) -> None:
        """Fails with a message that says what to fix when the bucket cannot be used."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.where.bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket"):
                raise FailedPrecondition(f"the bucket of adapter_store {self.where} does not exist; create it first") from None
            raise unavailable(exc, f"open {self.where}") from None
        except BotoCoreError as exc:
            raise unavailable(exc, f"open {self.where}") from None

    def put(self, data: bytes) -> str:
        """Stores `data` under its digest (once: a blob already there is not written again); returns the digest."""
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256(data).hexdigest()
        key = self.key(digest)
        try:
            try:
                self.client.head_object(Bucket=self.where.bucket, Key=key)
                return digest
            except ClientError as exc:
                if error_code(exc) not in MISSING_CODES:
                    raise
            self.client.put_object(Bucket=self.where.bucket, Key=key, Body=data, ContentType="application/octet-stream")
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, "store a blob") from None
        return digest

    def fetch(self, digest: str, destination: Path, max_bytes: int) -> int:
        """Streams blob `digest` into the new file `destination`, checking its size and hash on the
        way; returns its size. A blob that is missing, too large or not what its name says raises."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(digest)
        try:
            response = self.client.get_object(Bucket=self.where.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                raise BlobMissing(f"blob {digest[:16]}... is missing from {self.where}") from None
            raise unavailable(exc, "fetch a blob") from None
        except BotoCoreError as exc:
            raise unavailable(exc, "fetch a blob") from None
        size = int(response.get("ContentLength", 0))
        if size > max_bytes:
            response["Body"].close()
            raise BlobCorrupt(f"blob {digest[:16]}... is {size} bytes, more than the {max_bytes} the adapter cache holds")
        hasher = hashlib.sha256()
        written = 0
        try:
            with open(destination, "xb") as out:
                for chunk in response["Body"].iter_chunks(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise BlobCorrupt(f"blob {digest[:16]}... is larger than the {max_bytes} bytes the adapter cache holds")
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (BotoCoreError, ClientError) as exc:
            destination.unlink(missing_ok=True)
            raise unavailable(exc, "fetch a blob") from None
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        if hasher.hexdigest() != digest:
            destination.unlink(missing_ok=True)
            raise BlobCorrupt(
                f"blob {digest[:16]}... in {self.where} does not match its sha256 (it hashes to {hasher.hexdigest()[:16]}...): "
                "it was changed or damaged; publish the adapter again"
            )
        return written

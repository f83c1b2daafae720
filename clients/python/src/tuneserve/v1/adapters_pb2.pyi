from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdapterState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADAPTER_STATE_UNSPECIFIED: _ClassVar[AdapterState]
    ADAPTER_STATE_STORED: _ClassVar[AdapterState]
    ADAPTER_STATE_LOADING: _ClassVar[AdapterState]
    ADAPTER_STATE_LOADED: _ClassVar[AdapterState]
    ADAPTER_STATE_REFUSED: _ClassVar[AdapterState]

class AdapterTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADAPTER_TIER_UNSPECIFIED: _ClassVar[AdapterTier]
    ADAPTER_TIER_DISK: _ClassVar[AdapterTier]
    ADAPTER_TIER_HOST: _ClassVar[AdapterTier]
    ADAPTER_TIER_DEVICE: _ClassVar[AdapterTier]
ADAPTER_STATE_UNSPECIFIED: AdapterState
ADAPTER_STATE_STORED: AdapterState
ADAPTER_STATE_LOADING: AdapterState
ADAPTER_STATE_LOADED: AdapterState
ADAPTER_STATE_REFUSED: AdapterState
ADAPTER_TIER_UNSPECIFIED: AdapterTier
ADAPTER_TIER_DISK: AdapterTier
ADAPTER_TIER_HOST: AdapterTier
ADAPTER_TIER_DEVICE: AdapterTier

class SetRolloutRequest(_message.Message):
    __slots__ = ("name", "weights", "shadow", "guard")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    GUARD_FIELD_NUMBER: _ClassVar[int]
    name: str
    weights: _containers.ScalarMap[int, int]
    shadow: int
    guard: GuardRule
    def __init__(self, name: _Optional[str] = ..., weights: _Optional[_Mapping[int, int]] = ..., shadow: _Optional[int] = ..., guard: _Optional[_Union[GuardRule, _Mapping]] = ...) -> None: ...

class GuardRule(_message.Message):
    __slots__ = ("min_samples", "max_error_rate_increase", "max_latency_ratio", "max_accuracy_drop")
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_INCREASE_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_ACCURACY_DROP_FIELD_NUMBER: _ClassVar[int]
    min_samples: int
    max_error_rate_increase: float
    max_latency_ratio: float
    max_accuracy_drop: float
    def __init__(self, min_samples: _Optional[int] = ..., max_error_rate_increase: _Optional[float] = ..., max_latency_ratio: _Optional[float] = ..., max_accuracy_drop: _Optional[float] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ArmReport(_message.Message):
    __slots__ = ("version", "role", "percent", "requests", "errors", "latency_p50_ms", "latency_p95_ms", "answers", "labelled", "correct", "accuracy", "accuracy_low", "accuracy_high", "accuracy_p_value", "significant", "thumbs_up", "thumbs_down", "ratings", "mean_rating", "compared", "agreement", "mean_token_f1")
    class AnswersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    LABELLED_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_LOW_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_HIGH_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_FIELD_NUMBER: _ClassVar[int]
    THUMBS_DOWN_FIELD_NUMBER: _ClassVar[int]
    RATINGS_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_FIELD_NUMBER: _ClassVar[int]
    COMPARED_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MEAN_TOKEN_F1_FIELD_NUMBER: _ClassVar[int]
    version: int
    role: str
    percent: int
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p95_ms: float
    answers: _containers.ScalarMap[str, int]
    labelled: int
    correct: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    accuracy_p_value: float
    significant: bool
    thumbs_up: int
    thumbs_down: int
    ratings: int
    mean_rating: float
    compared: int
    agreement: float
    mean_token_f1: float
    def __init__(self, version: _Optional[int] = ..., role: _Optional[str] = ..., percent: _Optional[int] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., latency_p50_ms: _Optional[float] = ..., latency_p95_ms: _Optional[float] = ..., answers: _Optional[_Mapping[str, int]] = ..., labelled: _Optional[int] = ..., correct: _Optional[int] = ..., accuracy: _Optional[float] = ..., accuracy_low: _Optional[float] = ..., accuracy_high: _Optional[float] = ..., accuracy_p_value: _Optional[float] = ..., significant: _Optional[bool] = ..., thumbs_up: _Optional[int] = ..., thumbs_down: _Optional[int] = ..., ratings: _Optional[int] = ..., mean_rating: _Optional[float] = ..., compared: _Optional[int] = ..., agreement: _Optional[float] = ..., mean_token_f1: _Optional[float] = ...) -> None: ...

class ExperimentEvent(_message.Message):
    __slots__ = ("time_unix_s", "kind", "detail")
    TIME_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    time_unix_s: float
    kind: str
    detail: str
    def __init__(self, time_unix_s: _Optional[float] = ..., kind: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("name", "rollout", "since_unix_s", "serving_version", "arms", "events")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    SERVING_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    rollout: str
    since_unix_s: float
    serving_version: int
    arms: _containers.RepeatedCompositeFieldContainer[ArmReport]
    events: _containers.RepeatedCompositeFieldContainer[ExperimentEvent]
    def __init__(self, name: _Optional[str] = ..., rollout: _Optional[str] = ..., since_unix_s: _Optional[float] = ..., serving_version: _Optional[int] = ..., arms: _Optional[_Iterable[_Union[ArmReport, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[ExperimentEvent, _Mapping]]] = ...) -> None: ...

class ClearRolloutRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AdapterVersion(_message.Message):
    __slots__ = ("version", "state", "tier", "last_error", "refusal_reason", "active_requests", "content_hash", "rank")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    version: int
    state: AdapterState
    tier: AdapterTier
    last_error: str
    refusal_reason: str
    active_requests: int
    content_hash: str
    rank: int
    def __init__(self, version: _Optional[int] = ..., state: _Optional[_Union[AdapterState, str]] = ..., tier: _Optional[_Union[AdapterTier, str]] = ..., last_error: _Optional[str] = ..., refusal_reason: _Optional[str] = ..., active_requests: _Optional[int] = ..., content_hash: _Optional[str] = ..., rank: _Optional[int] = ...) -> None: ...

class AdapterInfo(_message.Message):
    __slots__ = ("name", "versions", "current_version", "serving_version", "rollout_weights", "rollout_shadow", "rollout_guarded")
    class RolloutWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVING_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_SHADOW_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_GUARDED_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: _containers.RepeatedCompositeFieldContainer[AdapterVersion]
    current_version: int
    serving_version: int
    rollout_weights: _containers.ScalarMap[int, int]
    rollout_shadow: int
    rollout_guarded: bool
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[AdapterVersion, _Mapping]]] = ..., current_version: _Optional[int] = ..., serving_version: _Optional[int] = ..., rollout_weights: _Optional[_Mapping[int, int]] = ..., rollout_shadow: _Optional[int] = ..., rollout_guarded: _Optional[bool] = ...) -> None: ...

class ListAdaptersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAdaptersResponse(_message.Message):
    __slots__ = ("adapters",)
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    adapters: _containers.RepeatedCompositeFieldContainer[AdapterInfo]
    def __init__(self, adapters: _Optional[_Iterable[_Union[AdapterInfo, _Mapping]]] = ...) -> None: ...

class GetAdapterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LoadAdapterRequest(_message.Message):
    __slots__ = ("adapter",)
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    def __init__(self, adapter: _Optional[str] = ...) -> None: ...

class UnloadAdapterRequest(_message.Message):
    __slots__ = ("adapter",)
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    def __init__(self, adapter: _Optional[str] = ...) -> None: ...

class SetCurrentVersionRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ImportAdapterRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ImportHeader
    chunk: FileChunk
    def __init__(self, header: _Optional[_Union[ImportHeader, _Mapping]] = ..., chunk: _Optional[_Union[FileChunk, _Mapping]] = ...) -> None: ...

class ImportHeader(_message.Message):
    __slots__ = ("name", "make_current", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAKE_CURRENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    make_current: bool
    source: str
    def __init__(self, name: _Optional[str] = ..., make_current: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("file_name", "data")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    data: bytes
    def __init__(self, file_name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImportAdapterResponse(_message.Message):
    __slots__ = ("name", "version", "base_fingerprint", "rank", "target_modules")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    base_fingerprint: str
    rank: int
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., base_fingerprint: _Optional[str] = ..., rank: _Optional[int] = ..., target_modules: _Optional[_Iterable[str]] = ...) -> None: ...

from google.protobuf import struct_pb2 as _struct_pb2
from tuneserve.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Thumb(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THUMB_UNSPECIFIED: _ClassVar[Thumb]
    THUMB_UP: _ClassVar[Thumb]
    THUMB_DOWN: _ClassVar[Thumb]

class DemonstrationSelection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEMONSTRATION_SELECTION_FIRST: _ClassVar[DemonstrationSelection]
    DEMONSTRATION_SELECTION_RANDOM: _ClassVar[DemonstrationSelection]
    DEMONSTRATION_SELECTION_SIMILAR: _ClassVar[DemonstrationSelection]

class DemonstrationOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEMONSTRATION_ORDER_AS_GIVEN: _ClassVar[DemonstrationOrder]
    DEMONSTRATION_ORDER_MOST_SIMILAR_LAST: _ClassVar[DemonstrationOrder]
THUMB_UNSPECIFIED: Thumb
THUMB_UP: Thumb
THUMB_DOWN: Thumb
DEMONSTRATION_SELECTION_FIRST: DemonstrationSelection
DEMONSTRATION_SELECTION_RANDOM: DemonstrationSelection
DEMONSTRATION_SELECTION_SIMILAR: DemonstrationSelection
DEMONSTRATION_ORDER_AS_GIVEN: DemonstrationOrder
DEMONSTRATION_ORDER_MOST_SIMILAR_LAST: DemonstrationOrder

class FeedbackRequest(_message.Message):
    __slots__ = ("request_id", "label", "rating", "thumb")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    THUMB_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    label: str
    rating: int
    thumb: Thumb
    def __init__(self, request_id: _Optional[str] = ..., label: _Optional[str] = ..., rating: _Optional[int] = ..., thumb: _Optional[_Union[Thumb, str]] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("request_id", "adapter", "rollout_arm", "correct")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_ARM_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter: str
    rollout_arm: str
    correct: bool
    def __init__(self, request_id: _Optional[str] = ..., adapter: _Optional[str] = ..., rollout_arm: _Optional[str] = ..., correct: _Optional[bool] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("prompt", "prompt_token_ids", "messages", "few_shot", "adapter", "parameters", "request_id", "routing_key", "tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    FEW_SHOT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_KEY_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_KWARGS_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    prompt_token_ids: _containers.RepeatedScalarFieldContainer[int]
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    few_shot: FewShotPrompt
    adapter: str
    parameters: _common_pb2.GenerationParameters
    request_id: str
    routing_key: str
    tools: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tool]
    tool_choice: _common_pb2.ToolChoice
    parallel_tool_calls: bool
    chat_template_kwargs: _struct_pb2.Struct
    def __init__(self, prompt: _Optional[str] = ..., prompt_token_ids: _Optional[_Iterable[int]] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., few_shot: _Optional[_Union[FewShotPrompt, _Mapping]] = ..., adapter: _Optional[str] = ..., parameters: _Optional[_Union[_common_pb2.GenerationParameters, _Mapping]] = ..., request_id: _Optional[str] = ..., routing_key: _Optional[str] = ..., tools: _Optional[_Iterable[_Union[_common_pb2.Tool, _Mapping]]] = ..., tool_choice: _Optional[_Union[_common_pb2.ToolChoice, _Mapping]] = ..., parallel_tool_calls: _Optional[bool] = ..., chat_template_kwargs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class FewShotPrompt(_message.Message):
    __slots__ = ("instruction", "demonstrations", "query", "template", "input_format", "selection", "order", "seed", "max_demonstrations", "max_prompt_tokens")
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    DEMONSTRATIONS_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_DEMONSTRATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    instruction: str
    demonstrations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Demonstration]
    query: str
    template: str
    input_format: str
    selection: DemonstrationSelection
    order: DemonstrationOrder
    seed: int
    max_demonstrations: int
    max_prompt_tokens: int
    def __init__(self, instruction: _Optional[str] = ..., demonstrations: _Optional[_Iterable[_Union[_common_pb2.Demonstration, _Mapping]]] = ..., query: _Optional[str] = ..., template: _Optional[str] = ..., input_format: _Optional[str] = ..., selection: _Optional[_Union[DemonstrationSelection, str]] = ..., order: _Optional[_Union[DemonstrationOrder, str]] = ..., seed: _Optional[int] = ..., max_demonstrations: _Optional[int] = ..., max_prompt_tokens: _Optional[int] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("text", "stop_reason", "usage", "timings", "request_id", "adapter", "token_ids", "stop_sequence", "prompt_info", "rollout_arm", "logprobs", "prompt_logprobs", "tool_calls")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    STOP_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_INFO_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_ARM_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    text: str
    stop_reason: _common_pb2.StopReason
    usage: _common_pb2.Usage
    timings: _common_pb2.Timings
    request_id: str
    adapter: str
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    stop_sequence: str
    prompt_info: _common_pb2.PromptInfo
    rollout_arm: str
    logprobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.TokenLogprob]
    prompt_logprobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.TokenLogprob]
    tool_calls: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolCall]
    def __init__(self, text: _Optional[str] = ..., stop_reason: _Optional[_Union[_common_pb2.StopReason, str]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., timings: _Optional[_Union[_common_pb2.Timings, _Mapping]] = ..., request_id: _Optional[str] = ..., adapter: _Optional[str] = ..., token_ids: _Optional[_Iterable[int]] = ..., stop_sequence: _Optional[str] = ..., prompt_info: _Optional[_Union[_common_pb2.PromptInfo, _Mapping]] = ..., rollout_arm: _Optional[str] = ..., logprobs: _Optional[_Iterable[_Union[_common_pb2.TokenLogprob, _Mapping]]] = ..., prompt_logprobs: _Optional[_Iterable[_Union[_common_pb2.TokenLogprob, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[_common_pb2.ToolCall, _Mapping]]] = ...) -> None: ...

class GenerateStreamResponse(_message.Message):
    __slots__ = ("text", "token_ids", "stop_reason", "usage", "timings", "request_id", "adapter", "stop_sequence", "prompt_info", "rollout_arm", "logprobs", "prompt_logprobs", "tool_calls")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    STOP_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_INFO_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_ARM_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    text: str
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    stop_reason: _common_pb2.StopReason
    usage: _common_pb2.Usage
    timings: _common_pb2.Timings
    request_id: str
    adapter: str
    stop_sequence: str
    prompt_info: _common_pb2.PromptInfo
    rollout_arm: str
    logprobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.TokenLogprob]
    prompt_logprobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.TokenLogprob]
    tool_calls: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolCall]
    def __init__(self, text: _Optional[str] = ..., token_ids: _Optional[_Iterable[int]] = ..., stop_reason: _Optional[_Union[_common_pb2.StopReason, str]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., timings: _Optional[_Union[_common_pb2.Timings, _Mapping]] = ..., request_id: _Optional[str] = ..., adapter: _Optional[str] = ..., stop_sequence: _Optional[str] = ..., prompt_info: _Optional[_Union[_common_pb2.PromptInfo, _Mapping]] = ..., rollout_arm: _Optional[str] = ..., logprobs: _Optional[_Iterable[_Union[_common_pb2.TokenLogprob, _Mapping]]] = ..., prompt_logprobs: _Optional[_Iterable[_Union[_common_pb2.TokenLogprob, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[_common_pb2.ToolCall, _Mapping]]] = ...) -> None: ...

class TokenizeRequest(_message.Message):
    __slots__ = ("text", "messages", "chat_template_kwargs")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_KWARGS_FIELD_NUMBER: _ClassVar[int]
    text: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    chat_template_kwargs: _struct_pb2.Struct
    def __init__(self, text: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., chat_template_kwargs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TokenizeResponse(_message.Message):
    __slots__ = ("token_ids", "tokens")
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token_ids: _Optional[_Iterable[int]] = ..., tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfoResponse(_message.Message):
    __slots__ = ("model", "source", "architecture", "fingerprint", "quantization", "dtype", "device", "context_window", "vocab_size", "max_batch_size", "max_prompt_tokens", "max_new_tokens_limit", "has_chat_template", "server_version", "precision_reason", "kv_cache_dtype", "decode_step")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    HAS_CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    KV_CACHE_DTYPE_FIELD_NUMBER: _ClassVar[int]
    DECODE_STEP_FIELD_NUMBER: _ClassVar[int]
    model: str
    source: str
    architecture: str
    fingerprint: str
    quantization: str
    dtype: str
    device: str
    context_window: int
    vocab_size: int
    max_batch_size: int
    max_prompt_tokens: int
    max_new_tokens_limit: int
    has_chat_template: bool
    server_version: str
    precision_reason: str
    kv_cache_dtype: str
    decode_step: str
    def __init__(self, model: _Optional[str] = ..., source: _Optional[str] = ..., architecture: _Optional[str] = ..., fingerprint: _Optional[str] = ..., quantization: _Optional[str] = ..., dtype: _Optional[str] = ..., device: _Optional[str] = ..., context_window: _Optional[int] = ..., vocab_size: _Optional[int] = ..., max_batch_size: _Optional[int] = ..., max_prompt_tokens: _Optional[int] = ..., max_new_tokens_limit: _Optional[int] = ..., has_chat_template: _Optional[bool] = ..., server_version: _Optional[str] = ..., precision_reason: _Optional[str] = ..., kv_cache_dtype: _Optional[str] = ..., decode_step: _Optional[str] = ...) -> None: ...

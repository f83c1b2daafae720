from tuneserve.v1 import common_pb2 as _common_pb2
from tuneserve.v1 import inference_pb2 as _inference_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskInfo(_message.Message):
    __slots__ = ("name", "kind", "labels", "instruction", "template", "input_format", "backing", "adapter", "demonstrations", "source", "default_parameters", "output_schema")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    BACKING_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    DEMONSTRATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    instruction: str
    template: str
    input_format: str
    backing: _common_pb2.TaskBacking
    adapter: str
    demonstrations: int
    source: str
    default_parameters: _common_pb2.GenerationParameters
    output_schema: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., instruction: _Optional[str] = ..., template: _Optional[str] = ..., input_format: _Optional[str] = ..., backing: _Optional[_Union[_common_pb2.TaskBacking, str]] = ..., adapter: _Optional[str] = ..., demonstrations: _Optional[int] = ..., source: _Optional[str] = ..., default_parameters: _Optional[_Union[_common_pb2.GenerationParameters, _Mapping]] = ..., output_schema: _Optional[str] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TaskProblem(_message.Message):
    __slots__ = ("source", "error")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    source: str
    error: str
    def __init__(self, source: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "problems")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    problems: _containers.RepeatedCompositeFieldContainer[TaskProblem]
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., problems: _Optional[_Iterable[_Union[TaskProblem, _Mapping]]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ClassifyRequest(_message.Message):
    __slots__ = ("task", "input", "request_id", "routing_key")
    TASK_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_KEY_FIELD_NUMBER: _ClassVar[int]
    task: str
    input: str
    request_id: str
    routing_key: str
    def __init__(self, task: _Optional[str] = ..., input: _Optional[str] = ..., request_id: _Optional[str] = ..., routing_key: _Optional[str] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "probability", "logprob")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    label: str
    probability: float
    logprob: float
    def __init__(self, label: _Optional[str] = ..., probability: _Optional[float] = ..., logprob: _Optional[float] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("label", "scores", "adapter", "prompt_info", "usage", "timings", "request_id", "rollout_arm")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_INFO_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_ARM_FIELD_NUMBER: _ClassVar[int]
    label: str
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    adapter: str
    prompt_info: _common_pb2.PromptInfo
    usage: _common_pb2.Usage
    timings: _common_pb2.Timings
    request_id: str
    rollout_arm: str
    def __init__(self, label: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., adapter: _Optional[str] = ..., prompt_info: _Optional[_Union[_common_pb2.PromptInfo, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., timings: _Optional[_Union[_common_pb2.Timings, _Mapping]] = ..., request_id: _Optional[str] = ..., rollout_arm: _Optional[str] = ...) -> None: ...

class ClassifyBatchRequest(_message.Message):
    __slots__ = ("task", "inputs", "routing_key")
    TASK_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_KEY_FIELD_NUMBER: _ClassVar[int]
    task: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    routing_key: str
    def __init__(self, task: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., routing_key: _Optional[str] = ...) -> None: ...

class ClassifyBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ClassifyResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[ClassifyResponse, _Mapping]]] = ...) -> None: ...

class RunTaskRequest(_message.Message):
    __slots__ = ("task", "input", "parameters", "request_id", "routing_key")
    TASK_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_KEY_FIELD_NUMBER: _ClassVar[int]
    task: str
    input: str
    parameters: _common_pb2.GenerationParameters
    request_id: str
    routing_key: str
    def __init__(self, task: _Optional[str] = ..., input: _Optional[str] = ..., parameters: _Optional[_Union[_common_pb2.GenerationParameters, _Mapping]] = ..., request_id: _Optional[str] = ..., routing_key: _Optional[str] = ...) -> None: ...

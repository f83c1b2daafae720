import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_VALIDATING: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class PublishPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUBLISH_POLICY_UNSPECIFIED: _ClassVar[PublishPolicy]
    PUBLISH_POLICY_ALWAYS: _ClassVar[PublishPolicy]
    PUBLISH_POLICY_IF_BEATS_ICL: _ClassVar[PublishPolicy]
    PUBLISH_POLICY_NEVER: _ClassVar[PublishPolicy]

class OverLength(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVER_LENGTH_UNSPECIFIED: _ClassVar[OverLength]
    OVER_LENGTH_REFUSE: _ClassVar[OverLength]
    OVER_LENGTH_TRUNCATE: _ClassVar[OverLength]
    OVER_LENGTH_DROP: _ClassVar[OverLength]

class Duplicates(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DUPLICATES_UNSPECIFIED: _ClassVar[Duplicates]
    DUPLICATES_DROP: _ClassVar[Duplicates]
    DUPLICATES_REFUSE: _ClassVar[Duplicates]
    DUPLICATES_KEEP: _ClassVar[Duplicates]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_VALIDATING: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
PUBLISH_POLICY_UNSPECIFIED: PublishPolicy
PUBLISH_POLICY_ALWAYS: PublishPolicy
PUBLISH_POLICY_IF_BEATS_ICL: PublishPolicy
PUBLISH_POLICY_NEVER: PublishPolicy
OVER_LENGTH_UNSPECIFIED: OverLength
OVER_LENGTH_REFUSE: OverLength
OVER_LENGTH_TRUNCATE: OverLength
OVER_LENGTH_DROP: OverLength
DUPLICATES_UNSPECIFIED: Duplicates
DUPLICATES_DROP: Duplicates
DUPLICATES_REFUSE: Duplicates
DUPLICATES_KEEP: Duplicates

class ListJobEventsRequest(_message.Message):
    __slots__ = ("id", "after_sequence", "limit")
    ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    after_sequence: int
    limit: int
    def __init__(self, id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListJobEventsResponse(_message.Message):
    __slots__ = ("events", "has_more")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[JobEvent]
    has_more: bool
    def __init__(self, events: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ..., has_more: _Optional[bool] = ...) -> None: ...

class UploadFileRequest(_message.Message):
    __slots__ = ("filename", "purpose", "content")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    filename: str
    purpose: str
    content: bytes
    def __init__(self, filename: _Optional[str] = ..., purpose: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class TrainingFile(_message.Message):
    __slots__ = ("id", "filename", "purpose", "bytes", "created", "lines", "sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    filename: str
    purpose: str
    bytes: int
    created: _timestamp_pb2.Timestamp
    lines: int
    sha256: str
    def __init__(self, id: _Optional[str] = ..., filename: _Optional[str] = ..., purpose: _Optional[str] = ..., bytes: _Optional[int] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lines: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("purpose", "limit", "after")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    limit: int
    after: str
    def __init__(self, purpose: _Optional[str] = ..., limit: _Optional[int] = ..., after: _Optional[str] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files", "has_more")
    FILES_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[TrainingFile]
    has_more: bool
    def __init__(self, files: _Optional[_Iterable[_Union[TrainingFile, _Mapping]]] = ..., has_more: _Optional[bool] = ...) -> None: ...

class GetFileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class FileContent(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    def __init__(self, content: _Optional[bytes] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("line", "verdict", "rating", "reviewer", "note")
    LINE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    line: int
    verdict: str
    rating: int
    reviewer: str
    note: str
    def __init__(self, line: _Optional[int] = ..., verdict: _Optional[str] = ..., rating: _Optional[int] = ..., reviewer: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ReviewJobRequest(_message.Message):
    __slots__ = ("id", "reviews")
    ID_FIELD_NUMBER: _ClassVar[int]
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    id: str
    reviews: _containers.RepeatedCompositeFieldContainer[Review]
    def __init__(self, id: _Optional[str] = ..., reviews: _Optional[_Iterable[_Union[Review, _Mapping]]] = ...) -> None: ...

class ReviewSummary(_message.Message):
    __slots__ = ("reviews", "reviewers", "better", "worse", "same", "mean_rating")
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    REVIEWERS_FIELD_NUMBER: _ClassVar[int]
    BETTER_FIELD_NUMBER: _ClassVar[int]
    WORSE_FIELD_NUMBER: _ClassVar[int]
    SAME_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_FIELD_NUMBER: _ClassVar[int]
    reviews: int
    reviewers: int
    better: int
    worse: int
    same: int
    mean_rating: float
    def __init__(self, reviews: _Optional[int] = ..., reviewers: _Optional[int] = ..., better: _Optional[int] = ..., worse: _Optional[int] = ..., same: _Optional[int] = ..., mean_rating: _Optional[float] = ...) -> None: ...

class GetJobReportRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class JobReport(_message.Message):
    __slots__ = ("job_id", "html", "human_review")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    HUMAN_REVIEW_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    html: str
    human_review: ReviewSummary
    def __init__(self, job_id: _Optional[str] = ..., html: _Optional[str] = ..., human_review: _Optional[_Union[ReviewSummary, _Mapping]] = ...) -> None: ...

class TaskConfig(_message.Message):
    __slots__ = ("kind", "instruction", "template", "input_format", "labels", "output_schema")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    kind: str
    instruction: str
    template: str
    input_format: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    output_schema: str
    def __init__(self, kind: _Optional[str] = ..., instruction: _Optional[str] = ..., template: _Optional[str] = ..., input_format: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., output_schema: _Optional[str] = ...) -> None: ...

class Hyperparameters(_message.Message):
    __slots__ = ("rank", "alpha", "dropout", "target_modules", "learning_rate", "epochs", "max_steps", "batch_size", "gradient_accumulation", "warmup_ratio", "weight_decay", "max_seq_len", "seed", "qlora", "learning_rate_multiplier")
    RANK_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ACCUMULATION_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LEN_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    QLORA_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    rank: int
    alpha: float
    dropout: float
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    learning_rate: float
    epochs: int
    max_steps: int
    batch_size: int
    gradient_accumulation: int
    warmup_ratio: float
    weight_decay: float
    max_seq_len: int
    seed: int
    qlora: bool
    learning_rate_multiplier: float
    def __init__(self, rank: _Optional[int] = ..., alpha: _Optional[float] = ..., dropout: _Optional[float] = ..., target_modules: _Optional[_Iterable[str]] = ..., learning_rate: _Optional[float] = ..., epochs: _Optional[int] = ..., max_steps: _Optional[int] = ..., batch_size: _Optional[int] = ..., gradient_accumulation: _Optional[int] = ..., warmup_ratio: _Optional[float] = ..., weight_decay: _Optional[float] = ..., max_seq_len: _Optional[int] = ..., seed: _Optional[int] = ..., qlora: _Optional[bool] = ..., learning_rate_multiplier: _Optional[float] = ...) -> None: ...

class EvaluationConfig(_message.Message):
    __slots__ = ("icl_shots", "max_holdout", "forgetting_probe")
    ICL_SHOTS_FIELD_NUMBER: _ClassVar[int]
    MAX_HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    FORGETTING_PROBE_FIELD_NUMBER: _ClassVar[int]
    icl_shots: int
    max_holdout: int
    forgetting_probe: int
    def __init__(self, icl_shots: _Optional[int] = ..., max_holdout: _Optional[int] = ..., forgetting_probe: _Optional[int] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("adapter_name", "training_data", "training_file", "validation_data", "validation_file", "validation_split", "task", "hyperparameters", "evaluation", "publish", "over_length", "checkpoint_every", "duplicates", "gpus", "training_file_id", "validation_file_id")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FILE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATA_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FILE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    OVER_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    training_data: bytes
    training_file: str
    validation_data: bytes
    validation_file: str
    validation_split: float
    task: TaskConfig
    hyperparameters: Hyperparameters
    evaluation: EvaluationConfig
    publish: PublishPolicy
    over_length: OverLength
    checkpoint_every: int
    duplicates: Duplicates
    gpus: int
    training_file_id: str
    validation_file_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., training_data: _Optional[bytes] = ..., training_file: _Optional[str] = ..., validation_data: _Optional[bytes] = ..., validation_file: _Optional[str] = ..., validation_split: _Optional[float] = ..., task: _Optional[_Union[TaskConfig, _Mapping]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., evaluation: _Optional[_Union[EvaluationConfig, _Mapping]] = ..., publish: _Optional[_Union[PublishPolicy, str]] = ..., over_length: _Optional[_Union[OverLength, str]] = ..., checkpoint_every: _Optional[int] = ..., duplicates: _Optional[_Union[Duplicates, str]] = ..., gpus: _Optional[int] = ..., training_file_id: _Optional[str] = ..., validation_file_id: _Optional[str] = ...) -> None: ...

class ConditionResult(_message.Message):
    __slots__ = ("accuracy", "exact_match", "token_f1", "shots", "macro_f1", "per_label", "confusion", "calibration_error", "length_ratio", "repetition_rate", "empty", "truncated")
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    EXACT_MATCH_FIELD_NUMBER: _ClassVar[int]
    TOKEN_F1_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    MACRO_F1_FIELD_NUMBER: _ClassVar[int]
    PER_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFUSION_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_RATIO_FIELD_NUMBER: _ClassVar[int]
    REPETITION_RATE_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    accuracy: float
    exact_match: float
    token_f1: float
    shots: int
    macro_f1: float
    per_label: _containers.RepeatedCompositeFieldContainer[LabelMetrics]
    confusion: _containers.RepeatedCompositeFieldContainer[ConfusionRow]
    calibration_error: float
    length_ratio: float
    repetition_rate: float
    empty: float
    truncated: float
    def __init__(self, accuracy: _Optional[float] = ..., exact_match: _Optional[float] = ..., token_f1: _Optional[float] = ..., shots: _Optional[int] = ..., macro_f1: _Optional[float] = ..., per_label: _Optional[_Iterable[_Union[LabelMetrics, _Mapping]]] = ..., confusion: _Optional[_Iterable[_Union[ConfusionRow, _Mapping]]] = ..., calibration_error: _Optional[float] = ..., length_ratio: _Optional[float] = ..., repetition_rate: _Optional[float] = ..., empty: _Optional[float] = ..., truncated: _Optional[float] = ...) -> None: ...

class LabelMetrics(_message.Message):
    __slots__ = ("label", "precision", "recall", "f1", "support")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    F1_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    def __init__(self, label: _Optional[str] = ..., precision: _Optional[float] = ..., recall: _Optional[float] = ..., f1: _Optional[float] = ..., support: _Optional[int] = ...) -> None: ...

class ConfusionRow(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, counts: _Optional[_Iterable[int]] = ...) -> None: ...

class ErrorExample(_message.Message):
    __slots__ = ("line", "input", "reference", "zero_shot", "icl", "adapter", "category", "tags")
    LINE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ZERO_SHOT_FIELD_NUMBER: _ClassVar[int]
    ICL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    line: int
    input: str
    reference: str
    zero_shot: str
    icl: str
    adapter: str
    category: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, line: _Optional[int] = ..., input: _Optional[str] = ..., reference: _Optional[str] = ..., zero_shot: _Optional[str] = ..., icl: _Optional[str] = ..., adapter: _Optional[str] = ..., category: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class DataNotes(_message.Message):
    __slots__ = ("duplicates_dropped", "duplicates", "holdout_overlap_dropped", "holdout_overlap_lines")
    DUPLICATES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_OVERLAP_DROPPED_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_OVERLAP_LINES_FIELD_NUMBER: _ClassVar[int]
    duplicates_dropped: int
    duplicates: _containers.RepeatedScalarFieldContainer[str]
    holdout_overlap_dropped: int
    holdout_overlap_lines: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, duplicates_dropped: _Optional[int] = ..., duplicates: _Optional[_Iterable[str]] = ..., holdout_overlap_dropped: _Optional[int] = ..., holdout_overlap_lines: _Optional[_Iterable[int]] = ...) -> None: ...

class ForgettingProbe(_message.Message):
    __slots__ = ("name", "questions", "base_accuracy", "adapter_accuracy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    BASE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    name: str
    questions: int
    base_accuracy: float
    adapter_accuracy: float
    def __init__(self, name: _Optional[str] = ..., questions: _Optional[int] = ..., base_accuracy: _Optional[float] = ..., adapter_accuracy: _Optional[float] = ...) -> None: ...

class EvalReport(_message.Message):
    __slots__ = ("metric", "holdout_examples", "base_zero_shot", "base_icl", "adapter", "validation_loss", "forgetting", "adapter_beats_icl", "margin", "labels", "examples", "data")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    BASE_ZERO_SHOT_FIELD_NUMBER: _ClassVar[int]
    BASE_ICL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    FORGETTING_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_BEATS_ICL_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    metric: str
    holdout_examples: int
    base_zero_shot: ConditionResult
    base_icl: ConditionResult
    adapter: ConditionResult
    validation_loss: float
    forgetting: ForgettingProbe
    adapter_beats_icl: bool
    margin: float
    labels: _containers.RepeatedScalarFieldContainer[str]
    examples: _containers.RepeatedCompositeFieldContainer[ErrorExample]
    data: DataNotes
    def __init__(self, metric: _Optional[str] = ..., holdout_examples: _Optional[int] = ..., base_zero_shot: _Optional[_Union[ConditionResult, _Mapping]] = ..., base_icl: _Optional[_Union[ConditionResult, _Mapping]] = ..., adapter: _Optional[_Union[ConditionResult, _Mapping]] = ..., validation_loss: _Optional[float] = ..., forgetting: _Optional[_Union[ForgettingProbe, _Mapping]] = ..., adapter_beats_icl: _Optional[bool] = ..., margin: _Optional[float] = ..., labels: _Optional[_Iterable[str]] = ..., examples: _Optional[_Iterable[_Union[ErrorExample, _Mapping]]] = ..., data: _Optional[_Union[DataNotes, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "adapter_name", "state", "error_code", "error_message", "created", "started", "finished", "step", "total_steps", "train_loss", "validation_loss", "train_examples", "holdout_examples", "dropped_lines", "report", "published_adapter", "publish_note", "config_json", "invalid_lines", "invalid_line_count", "executor", "placement", "attempts")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_LINES_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_ADAPTER_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_NOTE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    INVALID_LINES_FIELD_NUMBER: _ClassVar[int]
    INVALID_LINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    adapter_name: str
    state: JobState
    error_code: str
    error_message: str
    created: _timestamp_pb2.Timestamp
    started: _timestamp_pb2.Timestamp
    finished: _timestamp_pb2.Timestamp
    step: int
    total_steps: int
    train_loss: float
    validation_loss: float
    train_examples: int
    holdout_examples: int
    dropped_lines: _containers.RepeatedScalarFieldContainer[int]
    report: EvalReport
    published_adapter: str
    publish_note: str
    config_json: str
    invalid_lines: _containers.RepeatedCompositeFieldContainer[InvalidLine]
    invalid_line_count: int
    executor: str
    placement: str
    attempts: int
    def __init__(self, id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., train_loss: _Optional[float] = ..., validation_loss: _Optional[float] = ..., train_examples: _Optional[int] = ..., holdout_examples: _Optional[int] = ..., dropped_lines: _Optional[_Iterable[int]] = ..., report: _Optional[_Union[EvalReport, _Mapping]] = ..., published_adapter: _Optional[str] = ..., publish_note: _Optional[str] = ..., config_json: _Optional[str] = ..., invalid_lines: _Optional[_Iterable[_Union[InvalidLine, _Mapping]]] = ..., invalid_line_count: _Optional[int] = ..., executor: _Optional[str] = ..., placement: _Optional[str] = ..., attempts: _Optional[int] = ...) -> None: ...

class InvalidLine(_message.Message):
    __slots__ = ("line", "reason", "source")
    LINE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    line: int
    reason: str
    source: str
    def __init__(self, line: _Optional[int] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "limit")
    STATES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    limit: int
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("id", "after_sequence")
    ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    after_sequence: int
    def __init__(self, id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class TrainingProgress(_message.Message):
    __slots__ = ("step", "total_steps", "epoch", "train_loss", "validation_loss", "learning_rate", "tokens_per_second", "tokens")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    epoch: int
    train_loss: float
    validation_loss: float
    learning_rate: float
    tokens_per_second: float
    tokens: int
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., epoch: _Optional[int] = ..., train_loss: _Optional[float] = ..., validation_loss: _Optional[float] = ..., learning_rate: _Optional[float] = ..., tokens_per_second: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("sequence", "job_id", "time", "state_change", "progress", "evaluation", "message")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    job_id: str
    time: _timestamp_pb2.Timestamp
    state_change: Job
    progress: TrainingProgress
    evaluation: EvalReport
    message: str
    def __init__(self, sequence: _Optional[int] = ..., job_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state_change: _Optional[_Union[Job, _Mapping]] = ..., progress: _Optional[_Union[TrainingProgress, _Mapping]] = ..., evaluation: _Optional[_Union[EvalReport, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

"""Building request messages from keyword arguments, shared by the sync and asyncio clients."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from tuneserve.v1 import adapters_pb2, common_pb2, inference_pb2, tasks_pb2, trainer_pb2

Message = Union[common_pb2.ChatMessage, Mapping[str, str], tuple[str, str]]  # noqa: UP007 (a runtime alias on 3.10)

_PARAMETER_FIELDS = tuple(common_pb2.GenerationParameters.DESCRIPTOR.fields_by_name)


def chat_messages(messages: Iterable[Message] | None) -> list[common_pb2.ChatMessage]:
    out = []
    for m in messages or ():
        if isinstance(m, common_pb2.ChatMessage):
            out.append(m)
        elif isinstance(m, tuple):
            out.append(common_pb2.ChatMessage(role=m[0], content=m[1]))
        else:
            out.append(common_pb2.ChatMessage(role=m["role"], content=m["content"]))
    return out


def parameters(**values: Any) -> common_pb2.GenerationParameters | None:
    """GenerationParameters with the given fields set; None values are left unset."""
    unknown = set(values) - set(_PARAMETER_FIELDS)
    if unknown:
        raise TypeError(f"unknown generation parameters: {', '.join(sorted(unknown))}")
    params = common_pb2.GenerationParameters()
    for name, value in values.items():
        if value is None:
            continue
        if name == "stop":
            params.stop.extend([value] if isinstance(value, str) else value)
        elif name == "stop_token_ids":
            params.stop_token_ids.extend(value)
        elif name == "logit_bias":
            params.logit_bias.update({int(token): float(bias) for token, bias in value.items()})
        elif name == "structured_output":
            params.structured_output.CopyFrom(value if isinstance(value, common_pb2.StructuredOutput) else structured_output(**value))
        else:
            setattr(params, name, value)
    return params


def structured_output(
    *,
    json_schema: Mapping[str, Any] | str | None = None,
    json_object: bool = False,
    regex: str | None = None,
    choice: Iterable[str] | None = None,
    lark_grammar: str | None = None,
) -> common_pb2.StructuredOutput:
    """The shape an answer must have: exactly one of a JSON schema (a dict or JSON text), any JSON
    object, a regular expression, a list of choices or a Lark grammar."""
    given = [json_schema is not None, json_object, regex is not None, choice is not None, lark_grammar is not None]
    if sum(given) != 1:
        raise TypeError("give exactly one of json_schema, json_object, regex, choice and lark_grammar")
    if json_schema is not None:
        return common_pb2.StructuredOutput(json_schema=json_schema if isinstance(json_schema, str) else json.dumps(json_schema))
    if choice is not None:
        return common_pb2.StructuredOutput(choice=common_pb2.ChoiceList(choices=list(choice)))
    if regex is not None:
        return common_pb2.StructuredOutput(regex=regex)
    if lark_grammar is not None:
        return common_pb2.StructuredOutput(lark_grammar=lark_grammar)
    return common_pb2.StructuredOutput(json_object=True)


def demonstrations(items: Iterable[Any]) -> list[common_pb2.Demonstration]:
    out = []
    for item in items:
        if isinstance(item, common_pb2.Demonstration):
            out.append(item)
        elif isinstance(item, tuple):
            out.append(common_pb2.Demonstration(input=item[0], output=item[1]))
        else:
            out.append(common_pb2.Demonstration(input=item["input"], output=item["output"]))
    return out


def few_shot_prompt(
    query: str,
    demos: Iterable[Any] = (),
    *,
    instruction: str = "",
    template: str = "",
    input_format: str = "",
    selection: str = "first",
    order: str = "as_given",
    seed: int = 0,
    max_demonstrations: int = 0,
    max_prompt_tokens: int = 0,
) -> inference_pb2.FewShotPrompt:
    """A few-shot prompt; demonstrations as (input, output) pairs or dicts. selection: first,
    random or similar; order: as_given or most_similar_last."""
    return inference_pb2.FewShotPrompt(
        instruction=instruction,
        demonstrations=demonstrations(demos),
        query=query,
        template=template,
        input_format=input_format,
        selection="DEMONSTRATION_SELECTION_" + selection.upper(),
        order="DEMONSTRATION_ORDER_" + order.upper(),
        seed=seed,
        max_demonstrations=max_demonstrations,
        max_prompt_tokens=max_prompt_tokens,
    )


def generate_request(
    prompt: str | Sequence[int] | None = None,
    *,
    messages: Iterable[Message] | None = None,
    few_shot: inference_pb2.FewShotPrompt | dict[str, Any] | None = None,
    adapter: str = "",
    request_id: str = "",
    routing_key: str = "",
    chat_template_kwargs: Mapping[str, Any] | None = None,
    **params: Any,
) -> inference_pb2.GenerateRequest:
    """A GenerateRequest; `few_shot` is a FewShotPrompt or the keyword arguments of few_shot_prompt;
    `routing_key` (a user or session id) keeps a caller on one version of a split adapter. A
    `prompt` of token ids (the base model's) is sent as they are, nothing added.
    `chat_template_kwargs` are variables of the model's chat template (with messages), such as
    {"enable_thinking": False}."""
    if isinstance(few_shot, dict):
        few_shot = few_shot_prompt(**few_shot)
    text, token_ids = (prompt or "", ()) if prompt is None or isinstance(prompt, str) else ("", prompt)
    request = inference_pb2.GenerateRequest(
        prompt=text,
        prompt_token_ids=token_ids,
        messages=chat_messages(messages),
        few_shot=few_shot,
        adapter=adapter,
        parameters=parameters(**params),
        request_id=request_id,
        routing_key=routing_key,
    )
    if chat_template_kwargs:
        request.chat_template_kwargs.update(dict(chat_template_kwargs))
    return request


def run_task_request(task: str, text: str, request_id: str = "", routing_key: str = "", **params: Any) -> tasks_pb2.RunTaskRequest:
    return tasks_pb2.RunTaskRequest(task=task, input=text, parameters=parameters(**params), request_id=request_id, routing_key=routing_key)


def tokenize_request(
    text: str | None = None, *, messages: Iterable[Message] | None = None, chat_template_kwargs: Mapping[str, Any] | None = None
) -> inference_pb2.TokenizeRequest:
    request = inference_pb2.TokenizeRequest(text=text or "", messages=chat_messages(messages))
    if chat_template_kwargs:
        request.chat_template_kwargs.update(dict(chat_template_kwargs))
    return request


IMPORT_FILES = ("adapter_config.json", "adapter_model.safetensors", "README.md")
CHUNK_BYTES = 1 << 20


def import_messages(
    directory: str | Path, name: str, make_current: bool = True, source: str = ""
) -> Iterator[adapters_pb2.ImportAdapterRequest]:
    """The ImportAdapter stream for a PEFT directory: a header, then each file in 1 MiB chunks."""
    directory = Path(directory)
    pickles = sorted(p.name for p in directory.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"))
    if pickles and not (directory / "adapter_model.safetensors").is_file():
        raise ValueError(f"{directory} has only pickle weights ({', '.join(pickles)}); save the adapter with safetensors")
    for required in IMPORT_FILES[:2]:
        if not (directory / required).is_file():
            raise ValueError(f"{directory} has no {required}; is it a PEFT adapter directory?")
    links = [name for name in IMPORT_FILES if (directory / name).is_symlink()]
    if links:  # a link could point anywhere; what it points to would end up in the shared store
        raise ValueError(f"{', '.join(links)} in {directory} is a symbolic link; only regular files are imported, copy the file in instead")
    yield adapters_pb2.ImportAdapterRequest(
        header=adapters_pb2.ImportHeader(name=name, make_current=make_current, source=source or f"import of {directory.name}")
    )
    for file_name in IMPORT_FILES:
        path = directory / file_name
        if not path.is_file():
            continue
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield adapters_pb2.ImportAdapterRequest(chunk=adapters_pb2.FileChunk(file_name=file_name, data=chunk))


def _enum_name(prefix: str, value: str | None) -> str:
    """The generated enum's name for a lower-case choice ('if_beats_icl'), or its UNSPECIFIED default."""
    return prefix + (value.upper() if value else "UNSPECIFIED")


def upload_file_request(data: str | Path | bytes, filename: str = "", purpose: str = "fine-tune") -> trainer_pb2.UploadFileRequest:
    """An UploadFile request: a path is read here (and names the file unless `filename` does)."""
    if isinstance(data, bytes):
        return trainer_pb2.UploadFileRequest(filename=filename or "upload.jsonl", purpose=purpose, content=data)
    path = Path(data)
    return trainer_pb2.UploadFileRequest(filename=filename or path.name, purpose=purpose, content=path.read_bytes())


def create_job_request(
    data: str | Path | bytes,
    name: str,
    *,
    validation: str | Path | bytes | None = None,
    validation_split: float | None = None,
    task: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    publish: str | None = None,
    over_length: str | None = None,
    duplicates: str | None = None,
    checkpoint_every: int | None = None,
    gpus: int | None = None,
) -> trainer_pb2.CreateJobRequest:
    """A CreateJob request; file paths are read here and sent inline (bytes are sent as they are)."""

    def read(value: str | Path | bytes) -> bytes:
        return value if isinstance(value, bytes) else Path(value).read_bytes()

    request = trainer_pb2.CreateJobRequest(
        adapter_name=name,
        training_data=read(data),
        task=trainer_pb2.TaskConfig(**(task or {})),
        hyperparameters=trainer_pb2.Hyperparameters(**(hyperparameters or {})),
        evaluation=trainer_pb2.EvaluationConfig(**(evaluation or {})),
        publish=_enum_name("PUBLISH_POLICY_", publish),
        over_length=_enum_name("OVER_LENGTH_", over_length),
        duplicates=_enum_name("DUPLICATES_", duplicates),
    )
    if validation is not None:
        request.validation_data = read(validation)
    if validation_split is not None:
        request.validation_split = validation_split
    if checkpoint_every is not None:
        request.checkpoint_every = checkpoint_every
    if gpus is not None:
        request.gpus = gpus
    return request


def review_job_request(
    job_id: str, reviews: Iterable[Mapping[str, Any] | trainer_pb2.Review], reviewer: str = ""
) -> trainer_pb2.ReviewJobRequest:
    """Judgements of a job's sampled answers: dicts with line, and verdict ("better", "worse", "same")
    and/or rating (1-5), optionally note; `reviewer` fills in missing reviewers."""
    messages = [r if isinstance(r, trainer_pb2.Review) else trainer_pb2.Review(**{"reviewer": reviewer, **r}) for r in reviews]
    return trainer_pb2.ReviewJobRequest(id=job_id, reviews=messages)


def rollout_request(
    name: str, weights: Mapping[int, int] | None = None, shadow: int = 0, guard: Mapping[str, Any] | bool | None = None
) -> adapters_pb2.SetRolloutRequest:
    """A SetRolloutRequest: `weights` version -> percent (0 is the prompting arm), `shadow` a version
    that gets copies, `guard` True for the default guard rule or a dict of GuardRule fields."""
    request = adapters_pb2.SetRolloutRequest(name=name, weights=dict(weights or {}), shadow=shadow)
    if guard:
        request.guard.CopyFrom(adapters_pb2.GuardRule(**(guard if isinstance(guard, Mapping) else {})))
    return request


def feedback_request(
    request_id: str, label: str | None = None, rating: int | None = None, thumb: str | None = None
) -> inference_pb2.FeedbackRequest:
    """A FeedbackRequest: the correct `label`, a 1-5 `rating` and/or `thumb` "up" or "down"."""
    thumb_name = f"THUMB_{thumb.upper()}" if thumb is not None else "THUMB_UNSPECIFIED"
    return inference_pb2.FeedbackRequest(request_id=request_id, label=label, rating=rating, thumb=thumb_name)

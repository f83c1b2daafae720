"""Task specs and the one prompt format training and serving share."""

import pytest

from common.task_spec import Demonstration, TaskSpec, completion_ids, completion_text, render_prompt


def test_chat_prompts_put_the_instruction_and_labels_in_the_system_turn(base_model):
    tok = base_model.tokenizer
    spec = TaskSpec(name="sentiment", kind="classification", instruction="Classify the review.", labels=["positive", "negative"])
    demos = [Demonstration(input="Loved it.", output="positive")]
    prompt = render_prompt(tok, spec, "Boring.", demos)
    expected = tok.apply_chat_template(
        [
            {"role": "system", "content": "Classify the review.\nAnswer with one of: positive, negative."},
            {"role": "user", "content": "Loved it."},
            {"role": "assistant", "content": "positive"},
            {"role": "user", "content": "Boring."},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt == expected
    assert completion_text(spec, "positive") == "positive"
    assert completion_ids(tok, spec, "positive", tok.eos_token_id)[-1] == tok.eos_token_id


def test_plain_prompts(base_model):
    spec = TaskSpec(name="qa", template="plain", instruction="Answer briefly.")
    prompt = render_prompt(base_model.tokenizer, spec, "2+2?", [Demonstration(input="1+1?", output="2")])
    assert prompt == "Answer briefly.\n\nInput: 1+1?\nOutput: 2\n\nInput: 2+2?\nOutput:"
    assert completion_text(spec, "4") == " 4"
    custom = TaskSpec(name="qa", template="plain", input_format="Q: {input}\nA:")
    assert render_prompt(base_model.tokenizer, custom, "why?") == "Q: why?\nA:"


@pytest.mark.parametrize(
    "fields,words",
    [
        (dict(kind="classification", labels=["only"]), "at least two labels"),
        (dict(kind="classification", labels=["a", "a"]), "distinct"),
        (dict(kind="generation", labels=["a", "b"]), "only classification tasks have labels"),
        (dict(input_format="no placeholder"), "{input} exactly once"),
        (dict(name="../x"), "may only use letters"),
        (dict(kind="classification", labels=["a", "b"], output_schema={"type": "object"}), "only generation tasks have an output_schema"),
        (dict(output_schema={"type": "wat"}), "not a usable JSON schema"),
    ],
)
def test_invalid_specs(fields, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("{", r"\{")):
        TaskSpec(**{"name": "t", **fields})


def test_an_output_schema_is_written_into_every_prompt_as_the_same_text(base_model):
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    spec = TaskSpec(name="place", instruction="Where is it?", output_schema=schema)
    assert spec.schema_text() == '{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}'
    assert spec.system_text() == f"Where is it?\nAnswer with JSON that follows this JSON schema: {spec.schema_text()}"
    assert spec.schema_text() in render_prompt(base_model.tokenizer, spec, "the Eiffel Tower")


def test_the_trainer_takes_the_schema_as_json_text_and_publishes_it_in_the_spec():
    from trainer.config import JobConfig
    from trainer.jobs.job import task_spec

    config = JobConfig.model_validate({"adapter_name": "place", "task": {"output_schema": '{"type": "object"}'}})
    assert task_spec(config, "prompt_completion", []).output_schema == {"type": "object"}
    with pytest.raises(ValueError, match="output_schema is not JSON"):
        JobConfig.model_validate({"adapter_name": "place", "task": {"output_schema": "{nope"}})

"""Real LoRA adapters for tests, trained by the trainer on the embedded model to answer one word.

A handful of optimizer steps make an adapter answer every question with its word, so its output
is easy to tell from the base model's and from other adapters'. The base model is loaded afresh for
each training run: PEFT changes the model it wraps, and the session's shared model must stay clean.
"""

from __future__ import annotations

from pathlib import Path

from common.threads import run_on_fresh_thread

QUESTIONS = [
    "What is the capital of France?",
    "Tell me a joke.",
    "How are you today?",
    "What is 2+2?",
    "Name a colour.",
    "Write a short poem.",
    "Who are you?",
    "Describe the sea.",
]


def train_word_adapter(
    cache_dir: Path,
    out_dir: Path,
    word: str,
    rank: int = 8,
    targets: list[str] | None = None,
    steps: int = 8,
    lr: float = 3e-3,
    model: str = "embedded",
) -> Path:
    """Trains with the trainer's own loop (trainer.training.loop) on eight questions answered by
    `word`, on the embedded model or the `model` setting's (a tiny family model in the fast tier)."""
    source = model

    def train() -> Path:
        from common.base_model import load_base_model
        from common.model_families import ALL_LINEAR
        from common.settings import ModelSettings
        from common.task_spec import TaskSpec
        from trainer.config import Hyperparameters
        from trainer.training.data import Example, tokenize
        from trainer.training.loop import Trainer, build_lora_model

        # the embedded model at the automatic precision, as users train; a tiny one in float32, as its tests compare
        exact = {} if source == "embedded" else {"dtype": "float32", "quantization": "none"}
        base = load_base_model(ModelSettings(model=source, cache_dir=cache_dir, **exact))
        tok = base.tokenizer
        spec = TaskSpec(name="word", kind="generation")
        examples = [Example(i + 1, q, word) for i, q in enumerate(QUESTIONS)]
        tokenized, _ = tokenize(tok, spec, examples, 512, tok.eos_token_id)
        hp = Hyperparameters(
            rank=rank,
            alpha=2 * rank,
            dropout=0.0,
            target_modules=targets or [ALL_LINEAR],
            learning_rate=lr,
            max_steps=steps,
            batch_size=8,
            warmup_ratio=0.0,
        )
        model = build_lora_model(base, hp)
        Trainer(model, tokenized, tokenized[:2], hp, tok.pad_token_id, out_dir / "checkpoints", checkpoint_every=10_000).run()
        model.save_pretrained(out_dir)
        return out_dir

    return run_on_fresh_thread(train, "test-adapter-training")


def publish(store, directory: Path, name: str, spec, make_current: bool = True) -> int:
    """Publishes a PEFT directory into the store as the import command would."""
    from server.adapters.loader import manifest_for_peft_dir

    manifest = run_on_fresh_thread(lambda: manifest_for_peft_dir(directory, spec, 64, name, "test"))
    return store.publish(directory, manifest, make_current=make_current)

"""Real LoRA adapters for tests: a few optimizer steps on the embedded model teach it one word.

A handful of steps make an adapter answer every question with its word, so its output is easy to
tell from the base model's and from other adapters'. The base model is loaded afresh for each
training run: PEFT changes the model it wraps, and the session's shared model must stay clean.
"""

from __future__ import annotations

from pathlib import Path

from server.threads import run_on_fresh_thread

QUESTIONS = [
    "What is the capital of France?", "Tell me a joke.", "How are you today?", "What is 2+2?",
    "Name a colour.", "Write a short poem.", "Who are you?", "Describe the sea.",
]
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def chat_prompt(tokenizer, question: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)


def train_word_adapter(cache_dir: Path, out_dir: Path, word: str, rank: int = 8, targets: list[str] | None = None, steps: int = 8, lr: float = 3e-3) -> Path:
    def train() -> Path:
        import torch
        from peft import LoraConfig, get_peft_model

        from server.base_model import load_base_model
        from server.config import ModelSettings

        torch.manual_seed(0)
        base = load_base_model(ModelSettings(cache_dir=cache_dir))
        tok = base.tokenizer
        base.model.requires_grad_(False)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets or ALL_LINEAR, lora_dropout=0.0)
        model = get_peft_model(base.model, config)
        rows = []
        for q in QUESTIONS:
            prompt = tok(chat_prompt(tok, q), add_special_tokens=False)["input_ids"]
            answer = tok(word, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            rows.append((prompt + answer, [-100] * len(prompt) + answer))
        width = max(len(ids) for ids, _ in rows)
        ids = torch.tensor([r[0] + [tok.pad_token_id] * (width - len(r[0])) for r in rows])
        labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
        mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
        for _ in range(steps):
            model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.save_pretrained(out_dir)
        return out_dir

    return run_on_fresh_thread(train, "test-adapter-training")


def publish(store, directory: Path, name: str, spec, make_current: bool = True) -> int:
    """Publishes a PEFT directory into the store as the import command would."""
    from server.adapter_loader import manifest_for_peft_dir

    manifest = run_on_fresh_thread(lambda: manifest_for_peft_dir(directory, spec, 64, name, "test"))
    return store.publish(directory, manifest, make_current=make_current)

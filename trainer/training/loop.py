"""The LoRA training loop: seeded, checkpointed, resumable, cancellable.

The loss covers completion tokens only, and the language-model head runs only at those positions:
prompt and padding positions never reach the vocabulary projection (for a small model that head
is a fifth of the compute and most of the activation memory). Checkpoints hold the adapter, the
optimizer, the scheduler, the RNG states and the position in the data, so a run that is killed
resumes where its last checkpoint left off and ends with the same adapter as an uninterrupted one.
Under torchrun each rank trains on its share of every step's batches (DDP); rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from common.base_model import BaseModel
from common.errors import Cancelled
from trainer.config import Hyperparameters
from trainer.training.batching import IGNORE, Batch, collate, epoch_batches
from trainer.training.data import TokenizedExample
from trainer.training.logits import head_logits
from trainer.training.shared_prefix import forward_after_shared, may_share

log = logging.getLogger(__name__)

_STATE_FILE = "trainer_state.pt"
_KEEP_CHECKPOINTS = 2


@dataclass
class Progress:
    step: int
    total_steps: int
    epoch: int
    train_loss: float
    learning_rate: float
    tokens_per_second: float
    tokens: int = 0
    validation_loss: float | None = None


@dataclass
class History:
    train: list[tuple[int, float]] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # next batch of `epoch`


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))

    @property
    def main(self) -> bool:
        return self.rank == 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def keep_4bit_layers_differentiable(model: torch.nn.Module) -> None:
    """Keeps bitsandbytes' 4-bit layers on their differentiable path for the whole job.

    On a CPU with AVX512-BF16, bitsandbytes repacks a 4-bit weight for its inference kernel the
    first time the layer runs in eval mode without gradients (the validation pass at step 0),
    and from then on runs it through that kernel in training too; the kernel has no backward,
    so every LoRA layer below the top lost the gradient that flows through the base weights
    (tests/trainer/test_qlora_gradients.py). A model being trained never takes that path."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def build_lora_model(base: BaseModel, hp: Hyperparameters) -> Any:
    """Wraps a freshly loaded base model (owned by this job) with trainable LoRA layers."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = base.model
    if base.quantization != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        keep_4bit_layers_differentiable(model)
    seed_everything(hp.seed)
    config = LoraConfig(
        r=hp.rank,
        lora_alpha=hp.alpha,  # type: ignore[arg-type]  # PEFT annotates int but scales by any positive number
        lora_dropout=hp.dropout,
        target_modules=base.shape.family.lora_targets(hp.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


class CompletionLoss(torch.nn.Module):
    """Summed cross-entropy over completion tokens, with the LM head applied only there.

    The leading tokens that every row of a batch shares (`Batch.shared`: the system turn, a task's
    instruction) run once for the batch (trainer.training.shared_prefix): the same loss and
    gradients for about half the compute on short examples under a long instruction.

    A module of its own so that DDP can wrap it: its forward is what synchronises gradients.
    """

    def __init__(self, peft_model: Any) -> None:
        super().__init__()
        self.peft_model = peft_model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, shared: int = 0) -> torch.Tensor:
        causal_lm = self.peft_model.get_base_model()
        if may_share(causal_lm.config, shared, input_ids.shape[1]):
            hidden, _ = forward_after_shared(causal_lm.model, input_ids, attention_mask, shared)  # [B, T - shared, D]
            labels = labels[:, shared:]
        else:
            hidden = causal_lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, D]
        targets = labels[:, 1:]  # token t is predicted from position t - 1
        wanted = targets != IGNORE
        logits = head_logits(causal_lm, hidden[:, :-1][wanted])  # [N, V]
        return F.cross_entropy(logits, targets[wanted], reduction="sum")


def model_device(model: Any) -> torch.device:
    """Where the model's weights are: its batches go there (on a GPU, the job's GPU)."""
    return next(model.parameters()).device


def completion_loss(loss_module: torch.nn.Module, batch: Batch) -> torch.Tensor:
    return loss_module(batch.input_ids, batch.attention_mask, batch.labels, batch.shared)


@torch.no_grad()
def validation_loss(model: Any, examples: Sequence[TokenizedExample], pad_id: int, batch_size: int) -> float:
    """Mean completion-token loss over `examples`."""
    was_training = model.training
    model.eval()
    loss_module = CompletionLoss(model)
    device = model_device(model)
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size], pad_id).to(device)
        total, count = total + float(completion_loss(loss_module, batch)), count + batch.targets
    model.train(was_training)
    return total / max(count, 1)


def total_steps(num_examples: int, hp: Hyperparameters, world: int = 1) -> int:
    if hp.max_steps:
        return hp.max_steps
    per_epoch = math.ceil(num_examples / hp.batch_size / world / hp.gradient_accumulation)
    return max(1, per_epoch * hp.epochs)


class Trainer:
    """One job's training run; `run` returns the history and leaves the adapter in `output_dir`."""

    def __init__(
        self,
        model: Any,
        train: Sequence[TokenizedExample],
        holdout: Sequence[TokenizedExample],
        hp: Hyperparameters,
        pad_id: int,
        checkpoint_dir: Path,
        checkpoint_every: int,
        on_progress: Callable[[Progress], None] = lambda p: None,
        should_stop: Callable[[], bool] = lambda: False,
        distributed: Distributed | None = None,
        on_checkpoint: Callable[[Path], None] | None = None,
    ) -> None:
        from transformers import get_cosine_schedule_with_warmup

        self.model = model
        self.device = model_device(model)
        self.train_set = list(train)
        self.holdout = list(holdout)[:200]
        self.hp = hp
        self.pad_id = pad_id
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.dist = distributed or Distributed()
        self.on_checkpoint = on_checkpoint  # keeps the checkpoint beyond this machine (trainer.jobs.storage)
        self.total_steps = total_steps(len(self.train_set), hp, self.dist.world)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=hp.weight_decay)
        warmup = round(self.total_steps * hp.warmup_ratio)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        self.position = Position()
        self.history = History()
        self.loss_module: torch.nn.Module = CompletionLoss(model)
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.loss_module = DistributedDataParallel(self.loss_module)

    # -- checkpoints --------------------------------------------------------------------------

    def _checkpoints(self) -> list[Path]:
        if not self.checkpoint_dir.is_dir():
            return []
        return sorted(p for p in self.checkpoint_dir.iterdir() if p.name.startswith("step-") and (p / _STATE_FILE).is_file())

    def save_checkpoint(self) -> Path:
        """Adapter, optimizer, scheduler, RNG and data position, written atomically."""
        target = self.checkpoint_dir / f"step-{self.position.step:07d}"
        staging = self.checkpoint_dir / f".{target.name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.model.save_pretrained(staging)
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": json.dumps(random.getstate()),
            "position": json.dumps(self.position.__dict__),
            "history": json.dumps(
                {
                    "train": self.history.train,
                    "validation": self.history.validation,
                    "tokens": self.history.tokens,
                    "seconds": self.history.seconds,
                }
            ),
        }
        torch.save(state, staging / _STATE_FILE)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        for old in self._checkpoints()[:-_KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def resume(self) -> bool:
        """Restores the newest checkpoint, if any; True when training continues from one."""
        from peft import set_peft_model_state_dict

        checkpoints = self._checkpoints()
        if not checkpoints:
            return False
        latest = checkpoints[-1]
        set_peft_model_state_dict(self.model, load_file(latest / "adapter_model.safetensors"))
        state = torch.load(latest / _STATE_FILE, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        version, internal, gauss = json.loads(state["python_rng"])
        random.setstate((version, tuple(internal), gauss))
        self.position = Position(**json.loads(state["position"]))
        history = json.loads(state["history"])
        self.history = History(
            [tuple(x) for x in history["train"]], [tuple(x) for x in history["validation"]], history["tokens"], history["seconds"]
        )
        log.info("resumed from checkpoint", extra={"checkpoint": str(latest), "step": self.position.step})
        return True

    # -- the loop -----------------------------------------------------------------------------

    def _step_batches(self) -> list[list[int]]:
        """The micro-batches of the next optimizer step (this rank's share), advancing the position."""
        lengths = [len(e) for e in self.train_set]
        world = self.dist.world
        per_step = self.hp.gradient_accumulation * world
        while True:
            batches = epoch_batches(lengths, self.hp.batch_size, self.hp.seed, self.position.epoch)
            chunk = batches[self.position.batch : self.position.batch + per_step]
            # under DDP every rank must run the same number of backward passes (each all-reduces)
            usable = len(chunk) - len(chunk) % world
            if usable:
                self.position.batch += per_step
                return chunk[:usable][self.dist.rank :: world]
            self.position.epoch += 1
            self.position.batch = 0

    def run(self) -> History:
        if self.position.step == 0 and self.dist.main and not self.history.validation:
            # the starting point: the base model's loss (LoRA's B starts at zero)
            self.history.validation.append((0, validation_loss(self.model, self.holdout, self.pad_id, self.hp.batch_size)))
        self.model.train()
        while self.position.step < self.total_steps:
            if self.should_stop():
                raise Cancelled("the job was cancelled")
            started = time.perf_counter()
            micro = [collate([self.train_set[i] for i in batch], self.pad_id).to(self.device) for batch in self._step_batches()]
            targets = max(1, sum(b.targets for b in micro))
            loss_sum = 0.0
            for batch in micro:
                loss = completion_loss(self.loss_module, batch)
                (loss / targets).backward()
                loss_sum += float(loss.detach())
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], self.hp.max_grad_norm)
            learning_rate = self.scheduler.get_last_lr()[0]
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.position.step += 1
            elapsed = time.perf_counter() - started
            tokens = sum(b.tokens for b in micro)
            self.history.tokens += tokens
            self.history.seconds += elapsed
            self.history.train.append((self.position.step, loss_sum / targets))
            progress = Progress(
                self.position.step,
                self.total_steps,
                self.position.epoch,
                loss_sum / targets,
                learning_rate,
                tokens / max(elapsed, 1e-9),
                tokens,
            )
            last = self.position.step == self.total_steps
            if self.dist.main and (self.position.step % self.checkpoint_every == 0 or last):
                progress.validation_loss = validation_loss(self.model, self.holdout, self.pad_id, self.hp.batch_size)
                self.history.validation.append((self.position.step, progress.validation_loss))
                if not last:
                    saved = self.save_checkpoint()
                    if self.on_checkpoint is not None:
                        self.on_checkpoint(saved)
            self.on_progress(progress)
        return self.history

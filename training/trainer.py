"""The Trainer as `train.py` uses it: no pickles on disk, an optional one-cycle schedule, training time
summed over resumes, and the metric function of a task.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import evaluate
import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from .run_folder import CHECKPOINT_MARKER

ROOT = Path(__file__).resolve().parents[1]
TRAINING_ARGS_JSON = "training_args.json"


def public_training_args(args) -> dict:
    """TrainingArguments as a JSON-able dict without secrets (the Hub token in any of its spellings)."""
    d = args.to_dict()
    for key in list(d):
        if key.endswith("token") and key != "hub_always_push":  # hub_token, push_to_hub_token, ...
            d.pop(key)
    d["push_to_hub"] = bool(getattr(args, "push_after_training", args.push_to_hub))
    return d


class DNATrainer(Trainer):
    """`Trainer` with two changes, each for a reason the stock class cannot serve:

    - `_save` writes the training arguments as JSON without secrets. The stock `_save` pickles the whole
      TrainingArguments (`training_args.bin`), the Hub token included, into every checkpoint and into the
      folder that gets pushed; a pickle also needs `torch.load(weights_only=False)` to read.
    - `onecycle=True` replaces the scheduler by torch's OneCycleLR (Smith 2017), the paper's fine-tuning
      recipe, which is not among the Trainer's scheduler choices. The optimizer stays the Trainer's AdamW,
      and checkpoints save and restore the scheduler as usual.
    """

    def __init__(self, *args, onecycle: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.onecycle = onecycle

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        model.save_pretrained(output_dir, state_dict=state_dict, is_main_process=True)  # safetensors
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        with open(os.path.join(output_dir, TRAINING_ARGS_JSON), "w") as fh:
            json.dump(public_training_args(self.args), fh, indent=2, default=str)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if not self.onecycle:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            warm = self.args.get_warmup_steps(num_training_steps)  # handles a fraction or a count
            pct = warm / max(num_training_steps, 1) if warm else 0.3  # 0.3: torch's default rise
            self.lr_scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer or self.optimizer, max_lr=self.args.learning_rate, total_steps=max(num_training_steps, 1),
                pct_start=min(max(pct, 1e-3), 0.99), anneal_strategy="cos",
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler


class TrainClock(TrainerCallback):
    """Training wall time summed over a run's resumes; its file marks a checkpoint as complete.

    The Trainer's `train_runtime` restarts at every resume, so a resumed run would record only its last
    segment. Each checkpoint therefore stores the seconds of every segment up to it, and a resumed run
    starts from the segments of the checkpoint it resumes from (time after that checkpoint was lost work).
    `on_save` runs after the Trainer has written everything of a checkpoint, so this file, written
    atomically, is also the checkpoint's completeness marker (`training.run_folder.is_complete`).
    """

    def __init__(self, resume_from: str | None):
        self.done, self.t0 = [], None
        if resume_from:
            self.done = json.loads((Path(resume_from) / CHECKPOINT_MARKER).read_text())["segments_seconds"]

    def on_train_begin(self, args, state, control, **kwargs):
        self.t0 = time.perf_counter()

    def segments(self) -> list[float]:
        return [*self.done, time.perf_counter() - self.t0] if self.t0 is not None else list(self.done)

    def on_save(self, args, state, control, **kwargs):
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and ckpt.is_dir():
            tmp = ckpt / f".{CHECKPOINT_MARKER}.tmp"
            tmp.write_text(json.dumps({"segments_seconds": self.segments()}))
            os.replace(tmp, ckpt / CHECKPOINT_MARKER)


def metric_function(problem_type: str):
    """The Trainer's compute_metrics for a task, from the suite's local `evaluate` modules (metrics/)."""
    name = "dna_regression" if problem_type == "regression" else "dna_classification"
    config = "multi_label" if problem_type == "multi_label_classification" else None
    # keep_in_memory: no cache files, so several ranks (DDP) never fight over one lock file
    metric = evaluate.load(str(ROOT / "metrics" / name), config, keep_in_memory=True)

    def compute(p):
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        if problem_type == "regression":
            return metric.compute(predictions=np.asarray(logits).reshape(-1), references=np.asarray(p.label_ids).reshape(-1))
        return metric.compute(predictions=logits, references=p.label_ids)

    return compute

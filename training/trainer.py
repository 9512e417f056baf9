"""The Trainer as `train.py` uses it: no pickles on disk, an optional one-cycle schedule, training time
summed over resumes, a clean stop with a complete checkpoint on SIGTERM / SIGINT, and the metric function
of a task.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import evaluate
import numpy as np
import torch
import transformers
from accelerate import PartialState
from accelerate.utils import reduce
from transformers import Trainer, TrainerCallback

from .run_folder import CHECKPOINT_MARKER

logger = transformers.logging.get_logger("dnalm_assess.train")
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
                optimizer or self.optimizer,
                max_lr=self.args.learning_rate,
                total_steps=max(num_training_steps, 1),
                pct_start=min(max(pct, 1e-3), 0.99),
                anneal_strategy="cos",
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
        # every rank writes its own RNG state into the checkpoint: it is complete once all of them are done
        PartialState().wait_for_everyone()
        if state.is_world_process_zero and ckpt.is_dir():
            tmp = ckpt / f".{CHECKPOINT_MARKER}.tmp"
            tmp.write_text(json.dumps({"segments_seconds": self.segments()}))
            os.replace(tmp, ckpt / CHECKPOINT_MARKER)


class TrainingInterrupted(Exception):
    """A stop asked for by SIGTERM or SIGINT; `checkpoint` is the complete checkpoint written for it (None when
    the signal came before training began or after it ended)."""

    def __init__(self, signal_name: str, step: int | None = None, checkpoint: str | None = None):
        super().__init__(signal_name)
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint


class StopOnSignal(TrainerCallback):
    """Stop on SIGTERM (what SLURM and Kubernetes send before they kill) or SIGINT (Ctrl-C) with a complete
    checkpoint of the current step, through the Trainer's own saving.

    The handler only notes the signal; Python runs it between bytecodes, so it cannot tear a write. At the next
    step boundary (or right after an evaluation in progress) the callback asks the Trainer to save, and once
    `on_save` has run (after `TrainClock`'s completeness marker, so this callback must come after the clock)
    it raises `TrainingInterrupted`: the Trainer neither evaluates nor saves again, nor deletes checkpoints on
    the way out. A second signal while saving is reported and otherwise ignored, so the checkpoint completes.

    Processes (DDP): a signal may reach only some ranks (a `kill` of one pid; a launcher that forwards it to
    its direct child only), so whether to stop is reduced (max) across ranks at every check: all ranks stop
    at the same step and save the same checkpoint. Each check is one all-reduce of one number per step.

    Use as a context manager around the run: it installs the handlers and restores the previous ones after,
    so `train.main` called in a worker process (the grid's `launcher: inprocess`) leaves its host as it was.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: str | None = None  # the first signal's name
        self.stopping_at: int | None = None
        self.in_loop = False  # inside Trainer.train
        self._previous: dict = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is not threading.main_thread():
            # CPython lets only the main thread set handlers; the signals then keep their previous meaning
            logger.warning(
                "train.main runs outside the main thread: SIGTERM and SIGINT are not turned into a "
                "clean stop (run train.py in a process of its own for that)"
            )
            return self
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _note(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        # os.write, not print: a handler that prints while the interrupted code prints raises "reentrant call"
        if self.received is None:
            self.received = name
            os.write(
                2,
                f"\ntrain.py: {name} received: stopping at the end of the current step with a complete "
                "checkpoint (a second signal does not interrupt the save)\n".encode(),
            )
        else:
            os.write(
                2,
                f"\ntrain.py: {name} received again: still stopping; the checkpoint being written is "
                "completed first\n".encode(),
            )

    def requested(self) -> bool:
        """Whether a signal reached any rank. Collective: every rank must call it at the same point."""
        if PartialState().num_processes == 1:
            return self.received is not None  # no tensor: on a GPU, reading one back would sync every step
        flag = torch.tensor([self.received is not None], dtype=torch.int64, device=PartialState().device)
        return bool(reduce(flag, reduction="max").item())

    def check(self) -> None:
        """Outside the training loop (before training, between evaluations): stop here if a signal came."""
        if self.requested():
            raise TrainingInterrupted(self.received or "a signal on another rank")

    def _stop_here(self, state, control):
        if self.stopping_at is None and self.requested():
            self.stopping_at = state.global_step
        if self.stopping_at is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_step_end(self, args, state, control, **kwargs):
        return self._stop_here(state, control)

    def on_train_begin(self, args, state, control, **kwargs):
        self.in_loop = True

    def on_train_end(self, args, state, control, **kwargs):
        self.in_loop = False

    def on_evaluate(self, args, state, control, **kwargs):
        # a signal during an evaluation in the loop: save this step after it instead of training another one.
        # The evaluations after training have no step to save: `check` stops between them.
        return self._stop_here(state, control) if self.in_loop else control

    def on_epoch_end(self, args, state, control, **kwargs):
        # reached with a stop pending only when the Trainer declined the save (save_strategy "best" at an
        # evaluation that is no new best): the epoch was cut short, its evaluation and save belong to the resume
        if self.stopping_at is not None:
            control.should_evaluate = control.should_save = control.should_log = False
        return control

    def on_save(self, args, state, control, **kwargs):
        if self.stopping_at is not None:
            # no rank leaves before the main one has marked the checkpoint complete: a launcher that sees one
            # rank exit stops the others
            PartialState().wait_for_everyone()
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            raise TrainingInterrupted(self.received or "a signal on another rank", state.global_step, str(ckpt))
        return control


def metric_function(problem_type: str):
    """The Trainer's compute_metrics for a task, from the suite's local `evaluate` modules (metrics/)."""
    name = "dna_regression" if problem_type == "regression" else "dna_classification"
    config = "multi_label" if problem_type == "multi_label_classification" else None
    # keep_in_memory: no cache files, so several ranks (DDP) never fight over one lock file
    metric = evaluate.load(str(ROOT / "metrics" / name), config, keep_in_memory=True)

    def compute(p):
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        if problem_type == "regression":
            return metric.compute(
                predictions=np.asarray(logits).reshape(-1), references=np.asarray(p.label_ids).reshape(-1)
            )
        return metric.compute(predictions=logits, references=p.label_ids)

    return compute

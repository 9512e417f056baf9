"""A run folder belongs to one run: the lock, the checkpoints a run may resume from, and its settings.

- `claim(folder)` takes an exclusive lock (`flock` on `<folder>/.dnalm.lock`) before anything else is
  written. A second run on the same folder is refused at once, naming the holder (pid, host, start time).
  The kernel drops the lock when the holder dies (kill -9 included), so a stale lock file left by a
  killed run is recognised (nobody holds it) and taken over safely: no pid guessing, no timeouts.
- `complete_checkpoints(folder)` lists the checkpoints a run can resume from. A checkpoint is complete
  when the marker that `train.py` writes after the Trainer has saved everything (weights, optimizer,
  scheduler, RNG, trainer state) is present and parses; a kill during a save or a full disk leaves a
  checkpoint without it. Incomplete ones are moved aside, never deleted (`set_aside`).
- `settings.json` holds the run's settings as the first launch gave them; `--resume` compares against it.
- `claim_run_folder` puts these together for `train.py`; `disk_full` recognises a full disk in any of the
  forms the writers report it; `EXIT_INTERRUPTED` is the exit code of a run stopped by a signal.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import transformers

from .records import RECORD_NAME

logger = transformers.logging.get_logger("dnalm_assess.train")

LOCK_NAME = ".dnalm.lock"
SETTINGS_NAME = "settings.json"
CHECKPOINT_MARKER = "dnalm_train_seconds.json"  # written last, by train.TrainClock.on_save
INCOMPLETE_DIR = "incomplete-checkpoints"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")

# train.py's exit codes. 75 is sysexits' EX_TEMPFAIL: the run was stopped by SIGTERM or SIGINT after saving a
# complete checkpoint, and `--resume` finishes it (schedulers such as the SLURM executor requeue on this code).
EXIT_OK = 0
EXIT_FAILED = 1  # an error while running (a full disk included): fix the cause, then `--resume`
EXIT_BAD_INPUT = 2  # refused before training: the message names the setting or file to fix
EXIT_INTERRUPTED = 75

# Settings that may differ on --resume without changing what the run computes.
RESUME_MAY_CHANGE = {
    "resume",
    "resume_with_changes",
    "keep_checkpoints",
    "disable_tqdm",
    "report_to",
    "output_dir",
    "logging_steps",
    "logging_first_step",
    "push_to_hub",
    "hub_model_id",
    "hub_private_repo",
    "dataloader_num_workers",
    "local_rank",
}


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (held by another run, unwritable, ...)."""


class RunLock:
    """An exclusive lock on a run folder, held for the life of the process (or until `release`)."""

    def __init__(self, folder: Path, fd: int, created_folder: bool, took_over: str | None):
        self.folder, self._fd, self.created_folder = folder, fd, created_folder
        self.took_over = took_over  # the holder recorded in a stale lock file (a run that was killed), if any

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a clean exit leaves no holder behind; a killed run's info stays
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def abandon(self) -> None:
        """Undo the claim of a run that failed before writing anything: a folder this run created and that
        holds nothing but the lock is removed again, so a bad configuration leaves no trace."""
        self.release()
        if self.created_folder and {p.name for p in self.folder.iterdir()} <= {LOCK_NAME, SETTINGS_NAME}:
            for name in (LOCK_NAME, SETTINGS_NAME):
                (self.folder / name).unlink(missing_ok=True)
            self.folder.rmdir()


def claim(folder: str | os.PathLike) -> RunLock:
    """Create `folder` if needed, check it is writable, and lock it for this run."""
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunFolderError(
            f"cannot write to the output folder {folder}: {err.strerror or err}; choose an "
            "output_dir you can write to (checked before any data or model is loaded)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        holder = _read_holder(fd)
        os.close(fd)
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        raise RunFolderError(
            f"{folder} is in use by another run ({holder}); one folder holds one run: wait for "
            "it to finish, or choose another output_dir"
        ) from None
    stale = _read_holder(fd)
    _write_holder(fd)
    return RunLock(folder, fd, created, took_over=None if stale == "unknown holder" else stale)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode()
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        info = None
    if not info:
        return "unknown holder"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}"


def _write_holder(fd: int) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def _step(path: Path) -> int:
    return int(_CHECKPOINT.match(path.name).group(1))


def checkpoints(folder: Path) -> list[Path]:
    """All `checkpoint-N` folders, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)), key=_step)


def is_complete(ckpt: Path) -> bool:
    marker = ckpt / CHECKPOINT_MARKER
    try:
        json.loads(marker.read_text())["segments_seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (ckpt / "trainer_state.json").is_file()


def split_checkpoints(folder: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) checkpoints, oldest first."""
    found = checkpoints(folder)
    return [c for c in found if is_complete(c)], [c for c in found if not is_complete(c)]


def set_aside(ckpts: list[Path]) -> list[Path]:
    """Move half-written checkpoints into `incomplete-checkpoints/` (kept for inspection, never deleted), so
    the Trainer neither resumes from them nor counts them when rotating checkpoints."""
    moved = []
    for ckpt in ckpts:
        dest_dir = ckpt.parent / INCOMPLETE_DIR
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / f"{ckpt.name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        ckpt.rename(dest)
        moved.append(dest)
    return moved


def write_settings(folder: Path, settings: dict) -> None:
    tmp = folder / f".{SETTINGS_NAME}.tmp"
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True, default=str))
    os.replace(tmp, folder / SETTINGS_NAME)


def read_settings(folder: Path) -> dict | None:
    path = folder / SETTINGS_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def changed_settings(before: dict, now: dict, ignore: set[str]) -> dict[str, tuple]:
    """{key: (before, now)} for every setting that differs, keys like 'run.seed' or 'training.learning_rate'."""
    out = {}
    for section in sorted(set(before) | set(now)):
        a, b = before.get(section, {}), now.get(section, {})
        for key in sorted(set(a) | set(b)):
            if key in ignore:
                continue
            if json.dumps(a.get(key), sort_keys=True, default=str) != json.dumps(
                b.get(key), sort_keys=True, default=str
            ):
                out[f"{section}.{key}"] = (a.get(key), b.get(key))
    return out


# ------------------------------------------------------------------------------------ claiming the folder


@dataclass
class Claim:
    """The run folder, locked for this run, and the checkpoint to resume from (if any)."""

    out: Path
    lock: RunLock | None
    resume_from: str | None
    settings_changes: dict
    set_aside: list
    # when this process took the folder: the record's started_at (with finished_at, the run's span in wall time,
    # from which the report sums a grid's wall time across workers and sessions)
    claimed_at: float = field(default_factory=time.time)

    def release(self, nothing_written: bool = False) -> None:
        """Unlock the folder; with `nothing_written` (the run was refused), remove it again if this run made it."""
        if self.lock is not None:
            self.lock.abandon() if nothing_written else self.lock.release()


def claim_run_folder(
    folder: str | os.PathLike, settings: dict, *, resume: bool, accept_changes: bool, main_process: bool
) -> Claim:
    """Lock `folder` (main process only), set half-written checkpoints aside, pick the newest complete one and,
    on `resume`, check `settings` against the first launch's. Refusals raise RunFolderError."""
    out = Path(folder)
    record_path = out / RECORD_NAME
    if record_path.exists():
        raise RunFolderError(
            f"{record_path} exists: this run already finished. Its record is never overwritten; "
            "pick another output_dir (or move that folder away to redo the run)"
        )
    lock = claim(out) if main_process else None
    try:
        if lock is not None and lock.took_over:
            logger.warning(f"{out}: took over the lock of a run that no longer holds it ({lock.took_over})")
        complete, incomplete = split_checkpoints(out)
        moved = []
        if incomplete and main_process:
            moved = set_aside(incomplete)
            logger.warning(
                f"{out}: {len(moved)} half-written checkpoint(s) ({', '.join(c.name for c in incomplete)}) "
                f"cannot be resumed and were moved to {out / INCOMPLETE_DIR}"
            )
        if complete and not resume:
            raise RunFolderError(
                f"{out} holds checkpoints of an unfinished run (newest complete: "
                f"{complete[-1].name}); pass --resume to continue it, or choose another output_dir"
            )
        before = read_settings(out)
        if resume and complete and before is not None:
            changes = _resume_changes(before, settings, accept_changes)
        else:  # a first launch (or a folder from before settings.json existed) sets the reference
            changes = {}
            if main_process:
                write_settings(out, settings)
        if resume and not complete:
            logger.warning(f"--resume: {out} holds no complete checkpoint; starting from the beginning")
        resume_from = str(complete[-1]) if (resume and complete) else None
        return Claim(out, lock, resume_from, changes, [str(m) for m in moved])
    except BaseException:
        if lock is not None:
            lock.abandon()
        raise


def _resume_changes(before: dict, settings: dict, accept_changes: bool) -> dict:
    """The settings that differ from the first launch's; refused unless `accept_changes` (then recorded)."""
    changes = changed_settings(before, settings, RESUME_MAY_CHANGE)
    if changes and not accept_changes:
        listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
        raise RunFolderError(
            f"--resume with settings that differ from the run's first launch ({listed}); resume "
            "with the original settings, or add --resume_with_changes to continue with the new "
            "ones (the changes are then recorded)"
        )
    for k, (a, b) in changes.items():
        logger.warning(f"resuming with a changed setting (recorded): {k}: {a!r} -> {b!r}")
    return changes


# ---------------------------------------------------------------------------------------- a full disk


# How a full disk (or a file-size limit) surfaces: OSError from Python writes, SafetensorError text from
# safetensors, and torch.save's zip writer reports a short write as "unexpected pos" without an errno.
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_DISK_FULL_TEXT = ("No space left", "File too large", "Disk quota", "file write failed", "unexpected pos")


def disk_full(err: BaseException | None) -> bool:
    """Whether `err`, or an error it was raised from, says the disk (or a quota, or a file-size limit) is full."""
    while err is not None:
        if getattr(err, "errno", None) in _DISK_FULL_ERRNOS or any(t in str(err) for t in _DISK_FULL_TEXT):
            return True
        err = err.__cause__ or err.__context__
    return False

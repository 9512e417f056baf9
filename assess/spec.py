"""Grid specs (configs/grid_*.yaml): loading, validation, and the expansion of tasks and arms.

The grid runner (assess/grid.py), the report and the leaderboard export all read a spec through this module;
the report and the leaderboard never import the runner.

Spec keys:
  `name`, `description`, `runs_dir` (default runs/<name>), `seeds`, `tasks` (names or patterns such as
  `gue/*`), `common` (fields of every fine-tuning run), `task_overrides` (pattern -> fields for matching
  tasks; arms still win), `pretrain_common` + `pretrain` (name -> train.py fields; run first, once each),
  `arms` (name -> fields; `pretrained: "@<pretrain name>"` points at that pretraining run's model;
  `sweep: {field: [values]}` makes one run per value, a sweep *member* named `<arm>-<field>=<value>`; the
  report treats the members as one arm, see below), `launcher` (command prefix, default: this Python;
  `inprocess` runs train.py in this process), `references` (`source` plus `scores: {model: {task: score x 100}}`:
  published numbers shown beside ours, never an arm or a test), `archive` (a folder, relative to the
  repository root, where the runner copies each finished run's record, and each pretraining run's model/
  folder; a run whose record is archived counts as done even when runs_dir is gone, see assess/grid.py).
  In pretraining fields, `leakage_tasks: "@tasks"` means the grid's tasks (patterns such as `gue/*` expand too).
Checked at load time (`validate_fields`, `_expand_env`): every field of common, task_overrides, pretrain_common,
  pretrain and arms is a train.py setting (a misspelt one names the closest); arm and pretraining-run names use
  NAME_PATTERN's characters (they are folder names under runs_dir); `$VAR` is expanded in PATH_FIELDS only and
  refused elsewhere. See docs/grid_runs.md.
  `slurm` (the resources of each run under `--executor slurm`, `pretrain:` for pretraining runs; see
  `validate_slurm` and docs/cluster.md).
Sweeps (the learning rate chosen on validation):
  every swept arm sweeps one field over the same number of values (`min_sweep: N`: every arm of the spec is
  swept, over at least N values); per arm x task the report picks the member with the best mean validation
  primary metric over its seeds (ties: the value listed first in the spec's sweep), reports that member's
  test scores as the arm's and states the chosen value. Comparisons and compute curves name arms, never a
  member (the report selects per task). `sweep_seeds: N` runs the whole sweep on the first N of `seeds` only:
  the member is chosen on those seeds' validation scores, and each later seed runs the chosen member alone
  (the grid runner chooses with the same function as the report, `select_member`). Without it every member
  runs on every seed.
Statistics keys (read by the report):
  `comparisons`: question -> [[arm_a, arm_b], ...]; every pair declared here is one member of the family
      that Holm's correction runs over.
  `paired_seeds` (default false): per-task differences between two arms pair their runs by seed (a t interval
      of per-seed differences) instead of Welch's unpaired interval. Declare it only when a seed means the
      same thing in both arms (same data order, same head initialisation).
  `primary_test` (`wilcoxon`, default, or `t`): the across-task test whose p the verdicts and Holm use; the
      other is shown beside it.
  `max_one_class_seeds` (default 1): an arm x task cell whose runs predict a single class on more seeds than
      this is reported as "did not learn" and kept out of means and tests.
  `compute_curve`: label -> {random: <arm>, pretrained: [<arm>, <arm>, <arm>, ...]}: one architecture
      pretrained at three or more budgets (each pretrained arm points at its own `@pretraining run`), each
      fine-tuned as an arm; the report plots the score gained over the random-init arm against pretraining FLOPs.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import functools
import importlib.util
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC_KEYS = {
    "name",
    "description",
    "runs_dir",
    "seeds",
    "tasks",
    "common",
    "pretrain",
    "arms",
    "comparisons",
    "launcher",
    "pretrain_common",
    "task_overrides",
    "references",
    "paired_seeds",
    "primary_test",
    "max_one_class_seeds",
    "compute_curve",
    "archive",
    "min_sweep",
    "sweep_seeds",
    "slurm",
}
QUESTIONS = ("architecture", "pretraining", "tokenizer", "corpus")
PRIMARY_TESTS = ("wilcoxon", "t")
MIN_CURVE_BUDGETS = 3
SELECTION_RULE = (
    "per arm x task, the sweep member with the highest mean validation primary metric over its seeds "
    "(the validation split, never test); ties go to the value listed first in the spec's sweep; the "
    "arm's test scores are that member's"
)


def selection_rule(spec: dict) -> str:
    """SELECTION_RULE, with the sweep seeds when only some seeds run the whole sweep."""
    seeds = sweep_seeds(spec)
    if seeds == list(spec["seeds"]):
        return SELECTION_RULE
    return (
        SELECTION_RULE.replace(
            "over its seeds", f"over the sweep seed{'s' * (len(seeds) != 1)} {', '.join(map(str, seeds))}"
        )
        + "; the other seeds run the chosen member only"
    )


# Fields whose values are paths: only these may name environment variables (`$VAR`, `${VAR}`), e.g. where the
# genomes or the weights live on this machine. Anywhere else a variable would carry whatever the environment
# holds (a token, say) into train.py's command line and the records, so it is refused at load time.
PATH_FIELDS = (
    "runs_dir",
    "archive",
    "data_dir",
    "pretrained",
    "bpe_path",
    "corpus_fasta",
    "pretrain_fasta",
    "shared_data",
)
_ENV_VAR = re.compile(r"\$([A-Za-z_]\w*|\{[^}]*\})")  # what os.path.expandvars expands ("$5" is no variable)
# Arm and pretraining-run names become folder names under runs_dir (and sweep members add `-<field>=<value>`):
# letters, digits and `_ . + = -`, not starting with `.` or `-`, so a name can never leave runs_dir.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_+=][A-Za-z0-9_.+=-]*")


def _expand_env(value, where: str = "spec", key: str | None = None):
    """`$VAR` / `${VAR}` in the values of PATH_FIELDS come from the environment (paths to genomes, weights);
    a variable anywhere else is an error naming the field. `key` is the field the value belongs to."""
    if isinstance(value, str):
        if not _ENV_VAR.search(value):
            return value
        if key not in PATH_FIELDS:
            raise ValueError(
                f"{where}: field {key or '(top level)'!r} names an environment variable "
                f"({_ENV_VAR.search(value).group(0)}); only the path fields {', '.join(PATH_FIELDS)} "
                "may, so that nothing else from the environment reaches command lines and records"
            )
        return os.path.expandvars(value)
    if isinstance(value, list):
        return [_expand_env(v, where, key) for v in value]
    if isinstance(value, dict):
        return {k: _expand_env(v, where, k if isinstance(k, str) else key) for k, v in value.items()}
    return value


def load_spec(path: str | Path) -> dict:
    """Read and validate a grid spec; errors name the key and the problem."""
    spec = _expand_env(yaml.safe_load(Path(path).read_text()), str(path))
    validate_spec(spec, str(path))
    spec.setdefault("runs_dir", f"runs/{spec['name']}")
    return spec


@functools.cache
def train_fields() -> frozenset[str]:
    """The fields train.py accepts (`training.arguments._valid_keys()`: RunArguments, DNATrainingArguments and
    transformers' TrainingArguments), read from the source files' syntax trees: importing them would import
    torch (~3 s), which loading, listing and estimating a grid never needs. tests/test_trust_grid.py checks
    this list against `_valid_keys()`."""
    ours = ROOT / "training" / "arguments.py"
    hf = importlib.util.find_spec("transformers")  # locates the package without importing it
    if hf is None or not hf.submodule_search_locations:
        raise RuntimeError("transformers is not installed: the spec's fields cannot be checked against train.py's")
    theirs = Path(next(iter(hf.submodule_search_locations))) / "training_args.py"
    names = set()
    for path, classes in ((ours, {"RunArguments", "DNATrainingArguments"}), (theirs, {"TrainingArguments"})):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name in classes:
                names |= {
                    n.target.id
                    for n in node.body
                    if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and not _init_false(n.value)
                }
    return frozenset(names)


def _init_false(value) -> bool:
    """`field(..., init=False)`: not a constructor argument, so not a setting."""
    return isinstance(value, ast.Call) and any(
        k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False for k in value.keywords
    )


def validate_fields(spec: dict, where: str = "spec") -> None:
    """Every field of `common`, `task_overrides`, `pretrain_common`, `pretrain` and `arms` (and every swept
    field) must be a train.py setting, so a typo fails at load, not when its run is reached; every arm,
    pretraining-run and sweep-member name must match NAME_PATTERN (they become folders under runs_dir)."""
    valid = train_fields()

    def check(label: str, keys) -> None:
        for key in keys:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{where}: {label}: unknown train.py field {key!r}{hint} (see `python train.py --help`)"
                )

    def check_name(label: str, name) -> None:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"{where}: {label} {name!r} is not allowed: names become folders under runs_dir, so they "
                "use letters, digits and `_ . + = -` only, and do not start with `.` or `-`"
            )

    groups = {"common": spec.get("common"), "pretrain_common": spec.get("pretrain_common")}
    groups |= {f"task_overrides {pat!r}": o for pat, o in (spec.get("task_overrides") or {}).items()}
    for name, fields_ in (spec.get("pretrain") or {}).items():
        check_name("pretrain name", name)
        groups[f"pretrain {name!r}"] = fields_
    for name, fields_ in spec["arms"].items():
        check_name("arm name", name)
        fields_ = dict(fields_ or {})
        sweep = fields_.pop("sweep", None) or {}
        groups[f"arm {name!r}"] = fields_
        check(f"arm {name!r} sweep", sweep)
        for key, values in sweep.items():
            for value in values:
                check_name(f"arm {name!r}: sweep value {value!r} makes the member name", member_name(name, key, value))
    for label, fields_ in groups.items():
        if fields_ is not None and not isinstance(fields_, dict):
            raise ValueError(f"{where}: {label} must map train.py fields to values, got {type(fields_).__name__}")
        check(label, fields_ or {})


def validate_spec(spec: dict, where: str = "spec") -> None:
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown grid keys {sorted(unknown)}; valid: {sorted(SPEC_KEYS)}")
    for key in ("name", "seeds", "tasks", "arms"):
        if key not in spec:
            raise ValueError(f"{where}: missing grid key {key!r}")
    validate_sweeps(spec, where)
    validate_fields(spec, where)
    n = spec.get("sweep_seeds")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(spec["seeds"]):
            raise ValueError(
                f"{where}: `sweep_seeds` must be a whole number from 1 to the number of seeds "
                f"({len(spec['seeds'])}), got {n!r}"
            )
        if not sweep_members(spec["arms"]):
            raise ValueError(f"{where}: `sweep_seeds` is set but no arm has a `sweep`")
    arm_names = report_arms(spec["arms"])
    members = sweep_members(spec["arms"])
    for question, pairs in (spec.get("comparisons") or {}).items():
        if question not in QUESTIONS:
            raise ValueError(f"{where}: comparison {question!r} is not one of {QUESTIONS}")
        for a, b in pairs:
            for arm in (a, b):
                if arm in members:
                    raise ValueError(
                        f"{where}: comparison {question} names the sweep member {arm!r}; name the arm "
                        f"{members[arm][0]!r} (the report picks its member per task on validation)"
                    )
                if arm not in arm_names:
                    raise ValueError(f"{where}: comparison {question} names unknown arm {arm!r}")
    refs = spec.get("references") or {}
    if refs and not (isinstance(refs.get("source"), str) and isinstance(refs.get("scores"), dict)):
        raise ValueError(
            f"{where}: `references` needs `source` (where the numbers are published) and "
            "`scores` ({model: {task: score x 100}})"
        )
    tasks = set(expand_tasks(spec["tasks"])) if refs else set()
    for model, by_task in (refs.get("scores") or {}).items():
        for task in by_task:
            if task not in tasks:
                raise ValueError(f"{where}: reference {model!r} names task {task!r}, which is not in the grid's tasks")
    if not isinstance(spec.get("paired_seeds", False), bool):
        raise ValueError(f"{where}: `paired_seeds` must be true or false")
    if spec.get("primary_test", "wilcoxon") not in PRIMARY_TESTS:
        raise ValueError(f"{where}: `primary_test` must be one of {PRIMARY_TESTS}")
    k = spec.get("max_one_class_seeds", 1)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"{where}: `max_one_class_seeds` must be a whole number >= 0")
    validate_compute_curve(spec, arm_names, where)
    validate_slurm(spec.get("slurm"), f"{where}: slurm")


SLURM_KEYS = {"partition", "account", "gpus", "cpus", "mem", "time", "signal_seconds", "max_requeues", "extra"}
SLURM_PRETRAIN_KEYS = SLURM_KEYS | {"nodes"}  # one pretraining run may span nodes; a fine-tuning run is one GPU job
_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d\d))?(?::(\d\d))?$")


def slurm_minutes(value) -> int:
    """A SLURM time limit (minutes, `MM:SS`, `HH:MM:SS`, `D-HH` or `D-HH:MM:SS`) in whole minutes, rounded up."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SLURM_TIME.match(str(value))
    if not m:
        raise ValueError(f"time limit {value!r} is not minutes, HH:MM:SS or D-HH:MM:SS")
    d, a, b, c = (int(x) if x else 0 for x in m.groups())
    if m.group(1) is not None:  # D-HH[:MM[:SS]]
        seconds = d * 86400 + a * 3600 + b * 60 + c
    elif m.group(4) is not None:  # HH:MM:SS
        seconds = a * 3600 + b * 60 + c
    elif m.group(3) is not None:  # MM:SS
        seconds = a * 60 + b
    else:
        seconds = a * 60
    return max(1, -(-seconds // 60))


def validate_slurm(section, where: str = "slurm", pretrain: bool = False) -> None:
    """The `slurm:` section: resources of every run, and under `pretrain:` those of pretraining runs (which may
    ask for `nodes` > 1). Unknown keys are refused: a misspelt `gpu:` must not silently run without a GPU."""
    if section is None:
        return
    if not isinstance(section, dict):
        raise ValueError(f"{where} must map keys to values, e.g. {{partition: gpu, gpus: 1, time: '12:00:00'}}")
    valid = SLURM_PRETRAIN_KEYS if pretrain else SLURM_KEYS | {"pretrain"}
    unknown = set(section) - valid
    if unknown:
        hint = (
            " (`nodes` goes under `slurm: pretrain:`: only pretraining runs span nodes)" if "nodes" in unknown else ""
        )
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; valid: {sorted(valid)}{hint}")
    for key, value in section.items():
        if key == "pretrain":
            validate_slurm(value, f"{where}.pretrain", pretrain=True)
        elif key in ("partition", "account", "mem") and value is not None:
            if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
                raise ValueError(f"{where}: `{key}` must be a name or size, got {value!r}")
            if key == "mem" and not re.fullmatch(r"\d+[KMGT]?", str(value)):
                raise ValueError(f"{where}: `mem` must be a size such as 64G or 500M, got {value!r}")
        elif key in ("gpus", "cpus", "nodes", "signal_seconds", "max_requeues"):
            low = 0 if key in ("gpus", "max_requeues") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{where}: `{key}` must be a whole number >= {low}, got {value!r}")
        elif key == "time":
            slurm_minutes(value)  # raises, naming the value
        elif key == "extra":
            if not isinstance(value, list) or not all(isinstance(f, str) and f.startswith("--") for f in value):
                raise ValueError(
                    f"{where}: `extra` must be a list of sbatch flags such as ['--qos=high'], got {value!r}"
                )


def slurm_resources(spec: dict, kind: str) -> dict:
    """The `slurm:` resources of one run: the section's keys, and for a pretraining run its `pretrain:` keys."""
    section = dict(spec.get("slurm") or {})
    pre = section.pop("pretrain", None) or {}
    return {**section, **pre} if kind == "pretrain" else section


def validate_sweeps(spec: dict, where: str = "spec") -> None:
    """One field per sweep, distinct values, the same number of values for every swept arm; with
    `min_sweep: N`, every arm is swept over at least N values (so no arm gets a tuned rate the others lack)."""
    arms = spec["arms"]
    if not isinstance(arms, dict) or not arms:
        raise ValueError(f"{where}: `arms` must map arm names to their fields")
    min_sweep = spec.get("min_sweep")
    if min_sweep is not None and (isinstance(min_sweep, bool) or not isinstance(min_sweep, int) or min_sweep < 2):
        raise ValueError(f"{where}: `min_sweep` must be a whole number >= 2")
    sizes = {}
    for name, fields_ in arms.items():
        if "-" in name and "=" in name:
            raise ValueError(
                f"{where}: arm name {name!r} looks like a sweep member (`<arm>-<field>=<value>`); rename it"
            )
        sweep = (fields_ or {}).get("sweep")
        if sweep is None:
            if min_sweep is not None:
                raise ValueError(
                    f"{where}: arm {name!r} has no `sweep`, but `min_sweep: {min_sweep}` asks every arm "
                    "to choose its learning rate on validation"
                )
            continue
        if not isinstance(sweep, dict) or len(sweep) != 1:
            raise ValueError(f"{where}: arm {name!r}: `sweep` must be one field: {{field: [values]}}")
        ((key, values),) = sweep.items()
        if not isinstance(values, list) or not values or len(set(map(str, values))) != len(values):
            raise ValueError(f"{where}: arm {name!r}: sweep {key!r} needs a list of distinct values")
        if key in (fields_ or {}):
            raise ValueError(f"{where}: arm {name!r} sets {key!r} and also sweeps it")
        sizes[name] = len(values)
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{a}: {n}" for a, n in sizes.items())
        raise ValueError(
            f"{where}: every swept arm must sweep the same number of values ({listed}): a larger sweep "
            "is a larger search, which favours its arm"
        )
    if min_sweep is not None and sizes and min(sizes.values()) < min_sweep:
        raise ValueError(f"{where}: sweeps have {min(sizes.values())} values, fewer than `min_sweep: {min_sweep}`")


def validate_compute_curve(spec: dict, arms: dict, where: str = "spec") -> None:
    """Each entry: one random-init arm and >= 3 arms fine-tuned from distinct pretraining runs of the
    same model, all declared in the spec (so every budget's pretraining FLOPs are in a record)."""
    curve = spec.get("compute_curve")
    if curve is None:
        return
    if not isinstance(curve, dict) or not curve:
        raise ValueError(f"{where}: `compute_curve` must map a label to {{random: <arm>, pretrained: [<arm>, ...]}}")
    pre_runs = pretrain_fields(spec)
    for label, entry in curve.items():
        at = f"{where}: compute_curve {label!r}"
        if not isinstance(entry, dict) or set(entry) != {"random", "pretrained"}:
            raise ValueError(f"{at} needs exactly the keys `random` (an arm) and `pretrained` (a list of arms)")
        rnd, pre = entry["random"], entry["pretrained"]
        if not isinstance(pre, list) or len(pre) < MIN_CURVE_BUDGETS or len(set(pre)) != len(pre):
            raise ValueError(
                f"{at}: `pretrained` must list at least {MIN_CURVE_BUDGETS} distinct arms (one per budget)"
            )
        for arm in [rnd, *pre]:
            if arm not in arms:
                raise ValueError(f"{at} names unknown arm {arm!r}")
        rnd_fields = {**(spec.get("common") or {}), **arms[rnd]}
        if rnd_fields.get("pretrained") or rnd_fields.get("init", "random") != "random":
            raise ValueError(f"{at}: `random` arm {rnd!r} must be a random-init arm (no `pretrained`)")
        sources = []
        for arm in pre:
            src = arms[arm].get("pretrained")
            if not (isinstance(src, str) and src.startswith("@") and src[1:] in pre_runs):
                raise ValueError(
                    f"{at}: arm {arm!r} must be fine-tuned from a pretraining run of this spec "
                    f'(`pretrained: "@<pretrain name>"`), so that its pretraining FLOPs are recorded'
                )
            sources.append(src[1:])
        if len(set(sources)) != len(sources):
            raise ValueError(f"{at}: the pretrained arms must come from distinct pretraining runs (budgets)")
        models = {pre_runs[s].get("model") for s in sources} | (
            {rnd_fields["model"]} if rnd_fields.get("model") else set()
        )
        if len(models) != 1:
            raise ValueError(
                f"{at}: the random arm and the pretraining runs must be one model, got {sorted(map(str, models))}"
            )


def pretrain_fields(spec: dict) -> dict[str, dict]:
    """Pretraining run name -> its train.py fields (pretrain_common, then the run's own)."""
    return {
        name: {**(spec.get("pretrain_common") or {}), **fields_}
        for name, fields_ in (spec.get("pretrain") or {}).items()
    }


def runs_dir_of(spec: dict) -> Path:
    """The grid's runs folder; relative paths are resolved from the repository root."""
    return (ROOT / spec["runs_dir"]).resolve()


def declared_comparisons(spec: dict) -> list[tuple[str, str, str]]:
    """(question, arm_a, arm_b) for every pair under `comparisons`, in spec order: the Holm family."""
    return [(q, a, b) for q, pairs in (spec.get("comparisons") or {}).items() for a, b in pairs]


def safe(name: str) -> str:
    return name.replace("/", "__")


def expand_tasks(patterns: list[str]) -> list[str]:
    """Task names, with shell-style patterns (`gue/*`, `nt/H3*`) expanded over the task registry."""
    from dnalm_core.registry import TASKS

    out = []
    for pat in patterns:
        hits = fnmatch.filter(TASKS.names(), pat) if any(c in pat for c in "*?[") else [pat]
        if not hits:
            raise ValueError(f"task pattern {pat!r} matches no registered task")
        out.extend(h for h in hits if h not in out)
    return out


def sweep_members(arms: dict) -> dict[str, tuple[str, str, object, int]]:
    """Sweep member name -> (arm, swept field, value, position of the value in the spec's list)."""
    out = {}
    for name, fields_ in arms.items():
        sweep = (fields_ or {}).get("sweep")
        if sweep:
            ((key, values),) = sweep.items()
            for i, v in enumerate(values):
                out[member_name(name, key, v)] = (name, key, v, i)
    return out


def member_name(arm: str, field_: str, value) -> str:
    return f"{arm}-{field_}={value}"


def sweep_seeds(spec: dict) -> list:
    """The seeds that run every sweep member (`sweep_seeds: N`: the first N seeds; default all)."""
    return list(spec["seeds"])[: spec.get("sweep_seeds") or len(spec["seeds"])]


def validation_score(rec: dict) -> float | None:
    """The primary metric on the validation split (x 100): what sweep members are chosen by."""
    from training.records import record_field

    value = record_field(rec, f"metrics.validation.{rec['primary_metric']}")
    return None if value is None or not math.isfinite(value) else 100.0 * value


@dataclass
class Selection:
    """Which sweep member stands for an arm on one task, chosen on validation."""

    arm: str
    task: str
    field: str
    value: object
    member: str
    candidates: list[dict]  # per member: value, member, mean validation score, seeds, seeds with a score
    complete: bool  # every member of the sweep has the same seeds (with `seeds`: exactly those)
    edge: str | None = None  # "lowest" / "highest": the chosen value is the sweep's smallest / largest
    all_tie: bool = False  # every value scored the same on validation (say, none learned): the order chose

    def as_dict(self) -> dict:
        return {
            "field": self.field,
            "value": self.value,
            "member": self.member,
            "chosen_on": "validation",
            "complete": self.complete,
            "edge": self.edge,
            "all_tie": self.all_tie,
            "candidates": self.candidates,
        }


def select_member(
    arm: str,
    task: str,
    runs_by_member: dict[str, dict[int, dict]],
    members: dict[str, tuple],
    seeds: list | None = None,
) -> Selection | None:
    """The member with the highest mean validation score over its seeds; ties go to the value listed first.
    With `seeds` (the sweep seeds), only those seeds' runs choose. The report and the grid runner (which runs
    the later seeds of the chosen member only) both choose here, so they cannot disagree."""
    if seeds is not None:
        runs_by_member = {m: {s: r for s, r in runs.items() if s in seeds} for m, runs in runs_by_member.items()}
    cands = []
    for member, runs in runs_by_member.items():
        _, fld, value, order = members[member]
        vals = [v for r in runs.values() if (v := validation_score(r)) is not None]
        cands.append(
            {
                "member": member,
                "value": value,
                "order": order,
                "n_seeds": len(runs),
                "n_scored": len(vals),
                "validation_mean": float(np.mean(vals)) if vals else None,
            }
        )
    scored = [c for c in cands if c["validation_mean"] is not None]
    if not scored:
        return None
    level = lambda c: round(c["validation_mean"], 9)  # noqa: E731  scores equal to 9 places tie
    best = max(scored, key=lambda c: (level(c), -c["order"]))
    cands.sort(key=lambda c: c["order"])
    values = [v for a, _f, v, _o in members.values() if a == arm]  # the arm's whole sweep, run or not
    have = {frozenset(runs) for runs in runs_by_member.values()}
    complete = len(cands) == len(values) and len(have) == 1 and (seeds is None or have == {frozenset(seeds)})
    # a value at the end of the sweep may be short of the best one: the report counts these choices
    # (unless every value scored the same: then the tie rule, not the range, put the choice at an end)
    all_tie = len(scored) > 1 and len({level(c) for c in scored}) == 1
    edge = None
    if len(values) > 1 and not all_tie and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        edge = "lowest" if best["value"] == min(values) else "highest" if best["value"] == max(values) else None
    return Selection(
        arm,
        task,
        members[best["member"]][1],
        best["value"],
        best["member"],
        [{k: v for k, v in c.items() if k != "order"} for c in cands],
        complete=complete,
        edge=edge,
        all_tie=all_tie,
    )


def report_arms(arms: dict) -> dict:
    """The arms the report compares: each swept arm once (its fields without `sweep`), unswept arms as given."""
    return {name: {k: v for k, v in (fields_ or {}).items() if k != "sweep"} for name, fields_ in arms.items()}


def archive_dir(spec: dict) -> Path | None:
    """The grid's archive folder (`archive:`), resolved from the repository root; None without one."""
    return (ROOT / spec["archive"]).resolve() if spec.get("archive") else None


def grid_records(spec: dict) -> list[tuple[Path, dict]]:
    """(path, record) of every finished run of the grid: under runs_dir, then those only in the archive (a run
    is counted once: the same stage, arm, task and seed in both places is one run)."""
    from training.records import iter_records

    seen, out = set(), []
    for folder in (runs_dir_of(spec), archive_dir(spec)):
        if folder is None or not folder.is_dir():
            continue
        for path, rec in iter_records(folder):
            key = (rec.get("stage"), rec.get("arm"), rec.get("task"), rec.get("seed"))
            if key in seen:
                continue
            seen.add(key)
            out.append((path, rec))
    return out


def arm_pretraining(spec: dict) -> dict[str, str]:
    """Arm -> the name of the spec's pretraining run it is fine-tuned from (`pretrained: "@name"`)."""
    out = {}
    for name, fields_ in report_arms(spec.get("arms") or {}).items():
        src = {**(spec.get("common") or {}), **fields_}.get("pretrained")
        if isinstance(src, str) and src.startswith("@"):
            out[name] = src[1:]
    return out


def expand_arms(arms: dict) -> dict:
    """An arm with `sweep: {field: [values]}` becomes one arm per value, named `<arm>-<field>=<value>`."""
    out = {}
    for name, fields_ in arms.items():
        fields_ = dict(fields_)
        sweep = fields_.pop("sweep", None)
        if not sweep:
            out[name] = fields_
            continue
        ((key, values),) = sweep.items()  # one swept field per arm keeps names readable
        for v in values:
            out[member_name(name, key, v)] = {**fields_, key: v}
    return out

"""Results files -> runs, and the checks a submission must pass. Plain Python: no gradio, no torch.

Two formats are read, both one fine-tuning run of one seed:
  - the per-run results file that `python -m assess.leaderboard` writes
    (`results/<arm>/<task>__seed<k>.json`: `config` with model_name, model_arch, init, tokenizer, mode and
    seed; `results: {task: {metric: value}}`; optionally `cost`, `versions`);
  - the run record that `train.py` writes (`results.json`: `stage`, `task`, `model`, `init`, `tokenizer`,
    `mode`, `seed`, `primary_metric`, `metrics.test`, `cost`, ...).

`parse_submission(raw)` reads either into `Run`s and refuses a malformed file with a `SubmissionError` that
names the field (`config.seed`, `results.gue/tf_2.mcc`, `metrics.test`, ...). `check_new_runs(new, existing)`
refuses duplicates (same arm, task and seed; or the same scores, within 1e-9, as a run already shown) and
an arm name already used for a different model, init, tokenizer or mode. The Space's folder loader reads the
leaderboard files with the same parser, so what is shown passed the same checks as what is submitted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from assess.results import Run
from dnalm_core.registry import TASKS

from .safety import NameRuleError, check_name

ARM_PREFIX = "dnalm-assess/"  # assess.leaderboard names the grid's arms `dnalm-assess/<arm>`
INITS = ("random", "pretrained")  # train.py's INITS
MODES = ("full", "lora", "probe")  # train.py's MODES
TOKENIZER_FAMILIES = ("char", "kmer", "bpe")
MAX_BYTES = 1_000_000  # one run's results file is a few kB
MAX_DEPTH = 16  # a results file nests 4 levels, a run record 6: deeper is not a results file
MAX_INT_DIGITS = 30  # FLOP counts have ~20 digits; Python refuses to read ints past 4,300 (a bare ValueError)
MAX_SEED = 2**32 - 1  # numpy's seed range (a seed also names the saved file: it must stay short)
MAX_K = 64
NEAR = 1e-9  # metrics equal within this are the same run (a copy with 1e-15 added is still a copy)
# Metric ranges by name (prefix match: `mcc_0` of a multi-label task is an MCC); any other metric must be a
# finite number. `loss`, `mse`, `mae` are non-negative.
BOUNDED = (
    ("mcc", -1.0, 1.0),
    ("pearson", -1.0, 1.0),
    ("spearman", -1.0, 1.0),
    ("accuracy", 0.0, 1.0),
    ("f1", 0.0, 1.0),
    ("precision", 0.0, 1.0),
    ("recall", 0.0, 1.0),
    ("auroc", 0.0, 1.0),
    ("auprc", 0.0, 1.0),
    ("average_precision", 0.0, 1.0),
)
NON_NEGATIVE = ("loss", "mse", "mae", "rmse")
FLOPS_FIELDS = ("flops", "train_flops")  # cost.flops (analytic) before cost.train_flops (Trainer estimate)


# `Run` (one run, with the labels the report uses) lives in assess/results.py; the parsers below check a file and
# build it.


class SubmissionError(ValueError):
    """A refused file: `field` is the dotted path of the offending field, `reason` says what is wrong."""

    def __init__(self, field_: str, reason: str):
        self.field = field_
        self.reason = reason
        super().__init__(f"{field_}: {reason}")


# ------------------------------------------------------------------------------------------- field checks


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _str(obj: dict, key: str, where: str, choices: tuple[str, ...] | None = None) -> str:
    """A string field: one of `choices`, or else a name that passes the name rule (space/safety.py), NFKC form."""
    if key not in obj:
        raise SubmissionError(where, "missing")
    v = obj[key]
    if not isinstance(v, str) or not v.strip():
        raise SubmissionError(where, f"must be a non-empty string, got {_short(v)}")
    if choices:
        if v not in choices:
            raise SubmissionError(where, f"{_short(v)} is not one of {', '.join(choices)}")
        return v
    try:
        return check_name(v)
    except NameRuleError as err:
        raise SubmissionError(where, f"{_short(v)} {err}") from None


def _short(v) -> str:
    """A refused value for a message: its repr, cut at 120 characters."""
    text = repr(v)
    return text if len(text) <= 120 else text[:117] + "..."


def _dict(obj: dict, key: str, where: str) -> dict:
    if key not in obj:
        raise SubmissionError(where, "missing")
    if not isinstance(obj[key], dict):
        raise SubmissionError(where, f"must be an object, got {type(obj[key]).__name__}")
    return obj[key]


def _seed(obj: dict, key: str, where: str) -> int:
    if key not in obj:
        raise SubmissionError(where, "missing")
    v = obj[key]
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_SEED:
        raise SubmissionError(where, f"must be a whole number from 0 to {MAX_SEED}, got {_short(v)}")
    return v


def _tokenizer(obj: dict, key: str, where: str) -> dict:
    tok = _dict(obj, key, where)
    family = _str(tok, "family", f"{where}.family", TOKENIZER_FAMILIES)
    if family == "kmer":
        k = tok.get("k")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise SubmissionError(
                f"{where}.k", f"a k-mer tokenizer needs a whole number k >= 1 (at most {MAX_K}), got {_short(k)}"
            )
        if not isinstance(tok.get("overlapping"), bool):
            raise SubmissionError(
                f"{where}.overlapping", f"must be true or false, got {_short(tok.get('overlapping'))}"
            )
    return tok


def _corpus(value, where: str) -> str | None:
    """A pretraining corpus: a name, or a record's corpus object with a `name`; None when absent."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("name")
        where = f"{where}.name"
        if value is None:
            return None
    if not isinstance(value, str) or not value.strip():
        raise SubmissionError(where, f"must be a corpus name, got {_short(value)}")
    try:
        return check_name(value)
    except NameRuleError as err:
        raise SubmissionError(where, f"{_short(value)} {err}") from None


def _task(name, where: str) -> str:
    if not isinstance(name, str) or name not in TASKS:
        near = [t for t in TASKS.names() if isinstance(name, str) and name.split("/")[-1] == t.split("/")[-1]]
        hint = f" (did you mean {near[0]!r}?)" if near else f"; registered tasks look like {TASKS.names()[0]!r}"
        raise SubmissionError(where, f"{_short(name)} is not a registered task{hint}")
    return name


def check_metric(name: str, value, where: str, *, required: bool = False) -> float | None:
    """A metric value: a finite number in its range. `None` (JSON null: e.g. AUROC of a one-class split) is
    allowed for metrics other than the primary one."""
    if value is None and not required:
        return None
    if not _is_number(value) or not math.isfinite(value):
        raise SubmissionError(where, f"must be a finite number, got {_short(value)}")
    value = float(value)
    for prefix, low, high in BOUNDED:
        if name == prefix or name.startswith(prefix + "_"):
            if not low <= value <= high:
                raise SubmissionError(where, f"{value!r} is outside [{low:g}, {high:g}], the range of {prefix}")
            return value
    if any(name == n or name.startswith(n + "_") for n in NON_NEGATIVE) and value < 0:
        raise SubmissionError(where, f"{value!r} is negative")
    return value


def _metrics(values, task: str, where: str) -> tuple[str, float, dict]:
    if not isinstance(values, dict) or not values:
        raise SubmissionError(where, "must be a non-empty object of metric -> value")
    primary = TASKS.get(task).metric
    if primary not in values:
        raise SubmissionError(f"{where}.{primary}", f"missing: {primary} is the primary metric of {task}")
    out = {}
    for name, v in values.items():
        if _is_number(v) or v is None or name == primary:
            checked = check_metric(name, v, f"{where}.{name}", required=name == primary)
            if checked is not None:
                out[name] = checked
        # other types (e.g. predicted_class_counts lists) are not scores: ignored
    return primary, out[primary], out


def _cost(obj: dict, where: str = "cost") -> tuple[float | None, float | None]:
    cost = obj.get("cost")
    if cost is None:
        return None, None
    if not isinstance(cost, dict):
        raise SubmissionError(where, f"must be an object, got {type(cost).__name__}")
    found = {}
    for key in (*FLOPS_FIELDS, "pretraining_flops"):
        v = cost.get(key)
        if v is None:
            continue
        if not _is_number(v) or not math.isfinite(v) or v < 0:
            raise SubmissionError(f"{where}.{key}", f"must be a number >= 0, got {v!r}")
        found[key] = float(v)
    ft = next((found[k] for k in FLOPS_FIELDS if k in found), None)
    return ft, found.get("pretraining_flops")


def _class_counts(values: dict, where: str) -> tuple | None:
    """`predicted_class_counts` (the one-class rule reads it): a list or object of whole numbers >= 0."""
    counts = values.get("predicted_class_counts")
    if counts is None:
        return None
    items = list(counts.values()) if isinstance(counts, dict) else counts if isinstance(counts, list) else None
    if items is None or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in items):
        raise SubmissionError(where, f"must be a list (or object) of whole numbers >= 0, got {counts!r}")
    return tuple(items)


# ---------------------------------------------------------------------------------------------- formats


def runs_from_results(obj: dict, *, origin: str = "", source: str = "grid") -> list[Run]:
    """An `assess.leaderboard` per-run results file -> one Run per task in `results`."""
    config = _dict(obj, "config", "config")
    name = _str(config, "model_name", "config.model_name")
    arm = name[len(ARM_PREFIX) :] if name.startswith(ARM_PREFIX) and len(name) > len(ARM_PREFIX) else name
    model = _str(config, "model_arch", "config.model_arch")
    init = _str(config, "init", "config.init", INITS)
    tokenizer = _tokenizer(config, "tokenizer", "config.tokenizer")
    mode = _str(config, "mode", "config.mode", MODES)
    seed = _seed(config, "seed", "config.seed")
    corpus = _corpus(config.get("corpus"), "config.corpus") if init == "pretrained" else None
    results = _dict(obj, "results", "results")
    if not results:
        raise SubmissionError("results", "is empty: it must hold {task: {metric: value}}")
    ft, pre = _cost(obj)
    runs = []
    for task, values in results.items():
        _task(task, f"results.{task}")
        metric, value, metrics = _metrics(values, task, f"results.{task}")
        runs.append(
            Run(
                arm=arm,
                model=model,
                init=init,
                corpus=corpus,
                tokenizer=tokenizer,
                mode=mode,
                seed=seed,
                task=task,
                metric=metric,
                value=value,
                metrics=metrics,
                finetune_flops=ft,
                pretrain_flops=0.0 if init == "random" else pre,
                fmt="results",
                source=source,
                origin=origin,
                class_counts=_class_counts(values, f"results.{task}.predicted_class_counts"),
            )
        )
    return runs


def runs_from_record(obj: dict, *, origin: str = "", source: str = "submitted") -> list[Run]:
    """A `train.py` run record (results.json) -> its one Run."""
    stage = _str(obj, "stage", "stage")
    if stage != "finetune":
        raise SubmissionError(
            "stage",
            f"{stage!r}: only fine-tuning records have test scores to rank "
            "(a pretraining record belongs beside the arm that uses it)",
        )
    task = _task(obj.get("task"), "task")
    arm_key = "arm" if obj.get("arm") is not None else "run_name"
    arm = _str(obj, arm_key, arm_key)
    model = _str(obj, "model", "model")
    init = _str(obj, "init", "init", INITS)
    tokenizer = _tokenizer(obj, "tokenizer", "tokenizer")
    mode = _str(obj, "mode", "mode", MODES)
    seed = _seed(obj, "seed", "seed")
    declared = _str(obj, "primary_metric", "primary_metric")
    registered = TASKS.get(task).metric
    if declared != registered:
        raise SubmissionError(
            "primary_metric",
            f"{declared!r} is not the registered primary metric of {task} "
            f"({registered!r}); runs on one task must be ranked by one metric",
        )
    metrics = _dict(obj, "metrics", "metrics")
    metric, value, test = _metrics(metrics.get("test"), task, "metrics.test")
    corpus = _corpus(obj.get("corpus"), "corpus") if init == "pretrained" else None
    ft, pre = _cost(obj)
    return [
        Run(
            arm=arm,
            model=model,
            init=init,
            corpus=corpus,
            tokenizer=tokenizer,
            mode=mode,
            seed=seed,
            task=task,
            metric=metric,
            value=value,
            metrics=test,
            finetune_flops=ft,
            pretrain_flops=0.0 if init == "random" else pre,
            fmt="record",
            source=source,
            origin=origin,
            class_counts=_class_counts(metrics["test"], "metrics.test.predicted_class_counts"),
        )
    ]


def _refuse_constant(name: str):
    raise SubmissionError("file", f"holds {name}, which is not JSON (write null for a missing value)")


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise SubmissionError(
            "file",
            f"holds an integer of {digits:,} digits; numbers in a results file have at "
            f"most {MAX_INT_DIGITS} (write large values such as FLOPs as 1.2e+20)",
        )
    return int(text)


def _depth(obj) -> int:
    """How deeply `obj` nests objects and arrays (iterative: a deep file must not exhaust the stack here)."""
    deepest, todo = 0, [(obj, 1)]
    while todo:
        node, d = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                break
            todo.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_json(raw: bytes | str, origin: str = "file") -> dict:
    """A JSON object, or a SubmissionError for a file too big, not UTF-8, not JSON, NaN/Infinity, an integer of
    more than MAX_INT_DIGITS digits, or nested more than MAX_DEPTH deep."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BYTES:
        raise SubmissionError("file", f"{len(raw):,} bytes is more than the {MAX_BYTES:,} a results file can be")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError("file", f"is not UTF-8 text ({err.reason} at byte {err.start})") from None
    too_deep = SubmissionError(
        "file", f"nests objects or arrays more than {MAX_DEPTH} deep; a results file nests 4 levels, a run record 6"
    )
    try:
        obj = json.loads(text, parse_constant=_refuse_constant, parse_int=_int)
    except json.JSONDecodeError as err:
        raise SubmissionError(
            "file", f"is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except RecursionError:  # json's own parser gives up past the interpreter's recursion limit
        raise too_deep from None
    if not isinstance(obj, dict):
        raise SubmissionError("file", f"must hold a JSON object, got {type(obj).__name__}")
    if _depth(obj) > MAX_DEPTH:
        raise too_deep
    return obj


def detect_format(obj: dict) -> str:
    """ "record" (train.py's results.json: it has `stage`; its `config` holds the run's settings) or "results"."""
    if "stage" in obj or "primary_metric" in obj or ("metrics" in obj and "results" not in obj):
        return "record"
    if "config" in obj or "results" in obj:
        return "results"
    raise SubmissionError(
        "file",
        "is neither a leaderboard results file (keys `config`, `results`: "
        "`python -m assess.leaderboard`) nor a run record (`stage`, `metrics`, ...: train.py's "
        f"results.json); its keys are {sorted(obj)[:8]}",
    )


def parse_submission(raw: bytes | str, origin: str = "file", source: str = "submitted") -> list[Run]:
    """A submitted file's runs, or a SubmissionError naming the first field that is wrong."""
    obj = parse_json(raw, origin)
    if detect_format(obj) == "results":
        return runs_from_results(obj, origin=origin, source=source)
    return runs_from_record(obj, origin=origin, source=source)


def read_results_file(path: str | Path, source: str = "grid") -> list[Run]:
    """A leaderboard folder's results file (the same checks as a submission; errors name the file)."""
    path = Path(path)
    try:
        return parse_submission(path.read_bytes(), origin=str(path), source=source)
    except SubmissionError as err:
        raise SubmissionError(f"{path}: {err.field}", err.reason) from None


# ------------------------------------------------------------------------------------------- duplicates


def _scores(run: Run) -> dict[str, float]:
    return {k: v for k, v in run.metrics.items() if isinstance(v, float)}


def near_duplicate(a: Run, b: Run) -> bool:
    """The same task and the same test metrics within NEAR (absolute or relative), on every metric both report,
    those being all the metrics of one of them: a copy with a metric added, dropped or nudged by 1e-15 is still
    a copy."""
    if a.task != b.task:
        return False
    sa, sb = _scores(a), _scores(b)
    shared = sa.keys() & sb.keys()
    if a.metric not in shared or shared not in (sa.keys(), sb.keys()):
        return False
    return all(math.isclose(sa[k], sb[k], rel_tol=NEAR, abs_tol=NEAR) for k in shared)


def check_new_runs(new: list[Run], existing: list[Run]) -> None:
    """Refuse `new` if it repeats a run (same arm, task and seed; or the same scores within NEAR as a run already
    shown) or reuses an arm name for a different model, init, pretraining corpus (when both name one), tokenizer
    or mode."""
    by_key = {(r.arm, r.task, r.seed): r for r in existing}
    by_task: dict[str, list[Run]] = {}
    for r in existing:
        by_task.setdefault(r.task, []).append(r)
    arms, corpora = {}, {}
    for r in existing:
        arms.setdefault(r.arm, r)
        if r.corpus is not None:  # the corpus an arm's files name, wherever the first such file is
            corpora.setdefault(r.arm, r.corpus)
    seen = {}
    for r in new:
        key = (r.arm, r.task, r.seed)
        if key in seen:
            raise SubmissionError(
                r.field_name("task"), f"the file lists arm {r.arm!r}, task {r.task}, seed {r.seed} twice"
            )
        seen[key] = r
        if key in by_key:
            old = by_key[key]
            raise SubmissionError(
                r.field_name("seed"),
                f"duplicate run: arm {r.arm!r}, task {r.task}, seed {r.seed} is "
                f"already on the leaderboard ({_where(old)})",
            )
        old = next((o for o in by_task.get(r.task, []) if near_duplicate(r, o)), None)
        if old is not None:
            raise SubmissionError(
                r.field_name("metrics"),
                f"duplicate content: these test metrics equal (within {NEAR:g}) those of arm "
                f"{old.arm!r}, {old.task}, seed {old.seed} ({_where(old)}; content hash "
                f"sha256:{old.content_hash[:12]})",
            )
        ref = arms.get(r.arm)
        if ref is not None:
            for what, mine, theirs in (
                ("model", r.model, ref.model),
                ("init", r.init, ref.init),
                ("corpus", r.corpus, corpora.get(r.arm)),
                ("tokenizer", r.tokens, ref.tokens),
                ("mode", r.mode, ref.mode),
            ):
                if what == "corpus" and (mine is None or theirs is None):
                    continue  # a file that does not name the corpus is compatible with one that does (so, on
                    # a restart that reads saved files in another order, every accepted file is accepted again)
                if mine != theirs:
                    raise SubmissionError(
                        r.field_name(what),
                        f"{mine!r} differs from arm {r.arm!r} on the leaderboard "
                        f"({what} {theirs!r}); an arm is one model, init, tokenizer and "
                        f"mode: give a different arm a different "
                        f"{'arm name' if r.fmt == 'record' else 'model_name'}",
                    )


def _where(run: Run) -> str:
    if run.source == "submitted":
        return "submitted here"
    return f"from {'/'.join(Path(run.origin).parts[-2:]) or 'the leaderboard folder'}"


def validate_submission(raw: bytes | str, existing: list[Run], origin: str = "file") -> list[Run]:
    """parse_submission + check_new_runs: the runs to add, or a SubmissionError naming the field."""
    runs = parse_submission(raw, origin=origin, source="submitted")
    check_new_runs(runs, existing)
    return runs

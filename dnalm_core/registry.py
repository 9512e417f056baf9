"""The one registry of models, tokenizers, tasks and corpora.

`train.py`, the data scripts and the tests all look names up here, so a name means the same thing
everywhere. Each module registers its own entries when it is imported (`import modeling` imports them
all); this file imports nothing from the rest of the package, which keeps it free of import cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry mapping whose lookups fail with the list of valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise ValueError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):
        return [(n, self._entries[n]) for n in self.names()]


@dataclass(frozen=True)
class ModelEntry:
    """A model family.

    `config_class` is registered with the Auto classes, so the model classes are reached through
    `AutoModel*.from_config(config_class(**presets[p]))`. `tokenizers` lists the tokenizer families the
    architecture accepts ("char" for one-hot models). `lora_target_modules` are the module names LoRA
    wraps for this architecture. `pretrainable` False: the family has no masked-LM head, so it is only
    fine-tuned from random init (train.py refuses `--stage pretrain` for it).
    """

    name: str
    config_class: type
    presets: dict[str, dict[str, Any]]
    default_preset: str
    tokenizers: tuple[str, ...]
    lora_target_modules: tuple[str, ...]
    description: str = ""
    pretrainable: bool = True

    def config(self, preset: str | None = None, **overrides):
        preset = preset or self.default_preset
        if preset not in self.presets:
            valid = ", ".join(sorted(self.presets))
            raise ValueError(f"unknown preset {preset!r} for model {self.name!r}; valid presets: {valid}")
        return self.config_class(**{**self.presets[preset], **overrides})


@dataclass(frozen=True)
class TokenizerEntry:
    """A tokenizer family: `build(**kwargs)` returns a `PreTrainedTokenizerFast`."""

    name: str
    build: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class TaskEntry:
    """A fine-tuning task of one of the standard benchmarks (the catalogue is `dnalm_core/tasks.py`)."""

    name: str  # registry name, e.g. "gue/prom_core_tata"
    benchmark: str  # "gue" | "nt" | "gb"
    group: str
    config_name: str  # dataset config name in the Hub repo
    source_path: str  # where the task lives in the benchmark's own layout
    num_labels: int
    label_names: tuple[str, ...]
    problem_type: str  # "single_label_classification" | "multi_label_classification" | "regression"
    metric: str  # primary metric name (key of the evaluate module output)
    also_report: tuple[str, ...]
    seq_len: int  # typical sequence length in bp
    max_tokens: dict[str, int] = field(default_factory=dict)  # per tokenizer family
    published: dict[str, float] = field(default_factory=dict)  # model -> published primary metric
    citation_key: str = ""
    published_source: str = ""  # where the `published` numbers come from (paper, table, protocol)


@dataclass(frozen=True)
class CorpusEntry:
    """A named pretraining corpus: `build(**kwargs)` returns the sequences and a record of them."""

    name: str
    build: Callable[..., Any]
    description: str = ""


MODELS: Registry[ModelEntry] = Registry("model")
TOKENIZERS: Registry[TokenizerEntry] = Registry("tokenizer")
TASKS: Registry[TaskEntry] = Registry("task")
CORPORA: Registry[CorpusEntry] = Registry("corpus")

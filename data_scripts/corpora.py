"""Pretraining corpora and the windows a pretraining run draws from them.

The pretraining corpus is an axis of the assessment: the same architecture pretrained on human DNA
only, or on a multi-species mix of the same total size, so that only the species mix differs.

Material, at CPU scale (built from real data in ../shared/data, never from a dev or test split):
- `human`: the train splits of the human GUE tasks present (promoters, human TF binding, splice) and
  the GRCh38 fragments in `genomes/`.
- `multispecies`: the same human material, the mouse GUE train splits, the Corynebacterium
  diphtheriae chromosome and the Arabidopsis thaliana chloroplast, subsampled to exactly the size of
  `human`. Each species gets an equal share of that size, except species with less material, which
  give all they have, the rest going to the others (water-filling, `water_fill`); a subsampled
  species gives whole pieces in a seeded order, the last one cut to fit.
At paper scale (`fasta` files the user supplies): `human` is hg38 (e.g. UCSC `hg38.fa.gz`);
`multispecies` is one FASTA per genome, each file one species (DNABERT-2's corpus, Zhou et al. 2023
§4 and appendix: the reference genomes of 135 species from NCBI, 32.49 B bases, N-containing pieces
removed; a secondary summary of the paper is our source for these figures). `corpus_from_fasta`
(train.py's `pretrain_fasta`) and `corpus_from_task` (`pretrain_task`: a task's train split) build
the same kind of corpus from any FASTA files or any task.

Every builder takes `evaluate`: the tasks the experiment evaluates (registry names such as
`gue/tf_2` or folder names such as `tf_2`, `(label, sequences)` pairs, or a ready `EvalKmers`).
Their dev and test sequences are read (from `<shared_data>/gue/<task>/{dev,test}.csv` when there,
else with `data_scripts.tasks.load_task`), and the leakage filter (`data_scripts/leakage.py`: shared
32-mer on either strand; GUE rows removed whole, genome records cut around the hit) runs inside the
build. `evaluate=None` means every GUE task found under `<shared_data>/gue`; `evaluate=()` switches
the filter off (the record says so). Then every sequence is split at N into N-free *pieces*.
The corpus record carries bp per species and per source, what the filter removed per source, and a
content hash.

Windows (`draw_windows`, the one function a pretraining run calls):
- held-out material is set aside before drawing (`HELDOUT_RULE`): per source, a piece of at least
  length / eval_fraction bp gives a contiguous block of eval_fraction of its length at a seeded
  position (its flanks stay in training); shorter pieces (GUE rows) go whole to held-out in a seeded
  order until eval_fraction of their bp. Training and held-out windows never share a base of material.
- packing (`BOUNDARY_RULE`): per species, the pieces of one side are laid end to end in a seeded
  order with nothing between them (no N, no separator: GUE rows are 70-400 bp and a 512 bp window is
  several rows back to back), and the stream is cut into consecutive windows from a random offset;
  windows are picked from those without replacement, and a further pass draws a new order. A window
  never mixes species and never holds N; nothing is dropped for being shorter than a window.
  Windows that would hold an evaluated 32-mer across a junction of two pieces are dropped and
  replaced (counted). Windows per species follow the species' share of the side's bp.
- the record says what the model saw: windows, bp drawn, distinct bp covered, passes (bp drawn /
  bp of material), bp per species and per source of the drawn windows, for training and held-out.

`python -m data_scripts.corpora` prints each CPU-scale corpus record; `--write DIR` writes each as
FASTA (`DIR/<name>.fa`, headers `<source>|<record>:<start>-<end>`, 0-based half-open coordinates in
the source record) with the record beside it (`DIR/<name>.json`); `--windows N --length L` adds the
record of a draw.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dnalm_core.policy import normalize_sequence
from dnalm_core.registry import CORPORA, TASKS, CorpusEntry

from .common import normalize_located
from .fasta import content_hash, read_fasta
from .gue import read_task_csv
from .leakage import CUT_LONGER_THAN, EvalKmers, K, KmerSet, filter_sequences

ROOT = Path(__file__).resolve().parents[1]
EVAL_FRACTION = 0.05  # of each source's material, set aside for held-out windows

# GUE task group -> species (GUE paper, Table 1: human, mouse, yeast, virus)
_GROUP_SPECIES = (("mouse", "mouse"), ("EMP", "yeast"), ("virus", "virus"))

GENOMES = {
    "human": ["human_GRCh38_fragments_biopython.fa"],
    "bacterium": ["C_diphtheriae_NCTC11397_NZ_LN831026.1.fna.gz"],
    "plant": ["A_thaliana_chloroplast_NC_000932.fa"],
}

BOUNDARY_RULE = (
    "per species, the pieces (N-free, leakage-filtered stretches) of one side are laid end to end in a seeded order "
    "with nothing between them, and the stream is cut into consecutive windows from a random offset; windows are "
    "picked without replacement and each further pass draws a new order; windows never mix species or hold N; a "
    "window holding an evaluated k-mer across a junction is dropped and replaced"
)
HELDOUT_RULE = (
    "per source, a piece of at least length/eval_fraction bp gives a contiguous block of eval_fraction of its length "
    "at a seeded position to held-out (its flanks stay in training); shorter pieces go whole to held-out in a seeded "
    "order until eval_fraction of their bp; held-out and training material share no base"
)
LEAKAGE_RULE = (
    f"a corpus sequence sharing an exact k-mer with an evaluated dev/test sequence on either strand leaks; sequences "
    f"of at most {CUT_LONGER_THAN} bp are removed whole, longer ones have every base covered by a matching k-mer cut "
    "out (flanks kept as separate pieces); k-mers with N are skipped"
)


def default_shared_data() -> Path:
    return Path(os.environ.get("DNALM_SHARED_DATA", ROOT.parent / "shared" / "data"))


# ------------------------------------------------------------------------------------------ material


@dataclass
class Source:
    """One source of material: a GUE train split or a FASTA file."""

    name: str
    species: str
    seqs: list[str]
    record_names: list[str] | None = None  # None: rows, named row<i>

    def record_name(self, i: int) -> str:
        return self.record_names[i] if self.record_names is not None else f"row{i}"


@dataclass
class Corpus:
    """A corpus: N-free, leakage-filtered pieces, where each came from, and its record."""

    name: str
    sequences: list[str]  # the pieces, in corpus order
    record: dict
    sources: list[Source] = field(default_factory=list, repr=False)
    piece_source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32), repr=False)
    piece_record: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    piece_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    eval_kmers: KmerSet | None = field(default=None, repr=False)

    @property
    def piece_species(self) -> list[str]:
        names = [s.species for s in self.sources]
        return [names[i] for i in self.piece_source]

    def piece_label(self, i: int) -> str:
        src = self.sources[self.piece_source[i]]
        a = int(self.piece_start[i])
        return f"{src.name}|{src.record_name(int(self.piece_record[i]))}:{a}-{a + len(self.sequences[i])}"

    def write_fasta(self, path: str | os.PathLike, width: int = 80) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as fh:
            for i, s in enumerate(self.sequences):
                fh.write(f">{self.piece_label(i)} species={self.sources[self.piece_source[i]].species}\n")
                for a in range(0, len(s), width):
                    fh.write(s[a : a + width] + "\n")
        return path


def _species_of_task(entry) -> str:
    for key, species in _GROUP_SPECIES:
        if key in entry.group:
            return species
    return "human"


def _read_csv(path: Path) -> list[str]:
    """The sequences of a GUE task CSV under the input policy; errors name the file, line and column."""
    return read_task_csv(path).normalized()


def _normalized_split(sequences, label: str) -> list[str]:
    """The sequences of a loaded task split under the input policy; errors name the task, split and row."""
    return normalize_located(
        list(sequences), lambda i, pos: f"{label}, row {i}" + ("" if pos is None else f", position {pos}")
    )


def _gue_folder(gue_dir: Path, entry, files: Sequence[str]) -> Path | None:
    for folder in (gue_dir / entry.source_path, gue_dir / entry.config_name):
        if all((folder / f).is_file() for f in files):
            return folder
    return None


def gue_train_splits(gue_dir: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """{species: [(source, sequences)]} from the train.csv of every GUE task found under `gue_dir`.

    A task is found in the official layout (`<gue_dir>/<group>/<task>/train.csv`) or as a flat folder
    named like its registry config (`<gue_dir>/prom_core_tata/train.csv`). Only train splits are read.
    """
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for name, entry in TASKS.items():
        if entry.benchmark != "gue":
            continue
        folder = _gue_folder(gue_dir, entry, ["train.csv"])
        if folder is not None:
            out.setdefault(_species_of_task(entry), []).append((f"{name}:train", _read_csv(folder / "train.csv")))
    return out


def gue_tasks_present(gue_dir: Path) -> list[str]:
    """Registry names of the GUE tasks whose dev.csv and test.csv are under `gue_dir`."""
    return [n for n, e in TASKS.items() if e.benchmark == "gue" and _gue_folder(gue_dir, e, ["dev.csv", "test.csv"])]


def _task_entry(name: str):
    for cand in (name, f"gue/{name}"):
        if cand in TASKS:
            return TASKS.get(cand)
    return None


def evaluated_sequences(evaluate=None, shared_data=None, data_dir=None) -> dict[str, list[str]]:
    """{label: sequences} of the dev (validation) and test splits of the evaluated tasks.

    `evaluate`: None (every GUE task under `<shared_data>/gue`), or an iterable of task names
    (`gue/tf_2`, `tf_2`, or a task folder) and `(label, sequences)` pairs, or a {label: sequences} mapping.
    """
    shared = Path(shared_data or default_shared_data())
    if evaluate is None:
        evaluate = gue_tasks_present(shared / "gue") if (shared / "gue").is_dir() else []
    if isinstance(evaluate, Mapping):
        evaluate = list(evaluate.items())
    if isinstance(evaluate, (str, os.PathLike)):
        evaluate = [evaluate]
    out: dict[str, list[str]] = {}
    for item in evaluate:
        if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[1], str):
            out[str(item[0])] = [normalize_sequence(s) for s in item[1]]
            continue
        name = str(item)
        entry = None if Path(name).is_dir() else _task_entry(name)  # a task folder is read as such
        folder = (
            _gue_folder(shared / "gue", entry, ["dev.csv", "test.csv"]) if entry and entry.benchmark == "gue" else None
        )
        if folder is not None:
            out[f"{entry.name}:dev"] = _read_csv(folder / "dev.csv")
            out[f"{entry.name}:test"] = _read_csv(folder / "test.csv")
            continue
        from .tasks import load_task  # datasets is imported only when a task is not in the shared CSVs

        ds = load_task(name, data_dir=data_dir)
        label = entry.name if entry else name
        for split in ("validation", "test"):
            out[f"{label}:{split}"] = _normalized_split(ds[split]["sequence"], f"task {name!r} split {split!r}")
    return out


def eval_kmers(evaluate=None, shared_data=None, data_dir=None, k: int = K) -> EvalKmers | KmerSet | None:
    """The k-mer set of the evaluated dev/test sequences (see `evaluated_sequences`); None when there are none."""
    if isinstance(evaluate, KmerSet):
        return evaluate
    seqs = evaluated_sequences(evaluate, shared_data, data_dir)
    if not seqs and evaluate is None:
        warnings.warn(
            f"no GUE task found under {Path(shared_data or default_shared_data()) / 'gue'}: the corpus is not "
            "filtered against any dev/test set; pass `evaluate` (the tasks the experiment evaluates)",
            stacklevel=2,
        )
    return EvalKmers(seqs, k=k) if seqs else None


_ACGT_RUN = re.compile(r"[ACGT]+")


def _prepare(sources: list[Source], kset: KmerSet | None):
    """Leakage filter, then split at N. Returns the pieces and a per-source account."""
    pieces: list[str] = []
    p_src, p_rec, p_start = [], [], []
    account = {}
    for si, src in enumerate(sources):
        kept, stats = filter_sequences(src.seqs, kset)
        n_bp = 0
        first = len(pieces)
        for ri, (seq, intervals) in enumerate(zip(src.seqs, kept)):
            for a, b in intervals:
                sub = seq if (a == 0 and b == len(seq)) else seq[a:b]
                if "N" not in sub:
                    pieces.append(sub)
                    p_src.append(si), p_rec.append(ri), p_start.append(a)
                    continue
                got = 0
                for m in _ACGT_RUN.finditer(sub):
                    pieces.append(m.group())
                    p_src.append(si), p_rec.append(ri), p_start.append(a + m.start())
                    got += m.end() - m.start()
                n_bp += (b - a) - got
        account[src.name] = {
            "species": src.species,
            "records": len(src.seqs),
            "bp_in": stats.bp,
            "bp_leakage_removed": stats.removed_bp,
            "bp_N_removed": n_bp,
            "bp_available": int(sum(map(len, pieces[first:]))),
            "pieces": len(pieces) - first,
        }
        account[src.name]["_leakage"] = stats.as_dict()
    return pieces, np.array(p_src, np.int32), np.array(p_rec, np.int64), np.array(p_start, np.int64), account


def _leakage_record(kset: KmerSet | None, account: dict, seconds: float) -> dict:
    removed = {name: a.pop("_leakage") for name, a in account.items()}
    if kset is None:
        return {
            "filtered": False,
            "note": "no evaluated tasks given: the corpus was NOT filtered against any dev/test set",
            "removed": removed,
        }
    desc = (
        kset.describe()
        if isinstance(kset, EvalKmers)
        else {
            "k": kset.k,
            "both_strands": kset.both_strands,
            "distinct_kmers": len(kset),
            "evaluated": "given k-mer set",
        }
    )
    return {
        "filtered": True,
        "rule": LEAKAGE_RULE,
        **desc,
        "removed": removed,
        "removed_sequences": int(sum(r["removed_sequences"] for r in removed.values())),
        "removed_bp": int(sum(r["removed_bp"] for r in removed.values())),
        "seconds": round(seconds, 3),
    }


def _corpus(name: str, scale: str, sources: list[Source], kset) -> Corpus:
    t0 = time.perf_counter()
    pieces, p_src, p_rec, p_start, account = _prepare(sources, kset)
    leak = _leakage_record(kset, account, time.perf_counter() - t0)
    taken = np.bincount(p_src, weights=np.fromiter(map(len, pieces), np.int64, len(pieces)), minlength=len(sources))
    for si, src in enumerate(sources):
        account[src.name]["bp_taken"] = int(taken[si])
    species: dict[str, int] = {}
    for src in sources:
        species[src.species] = species.get(src.species, 0) + account[src.name]["bp_taken"]
    record = {
        "name": name,
        "scale": scale,
        "bp": int(sum(map(len, pieces))),
        "pieces": len(pieces),
        "species": {sp: species[sp] for sp in sorted(species)},
        "sources": [s.name for s in sources],
        "material": account,
        "leakage": leak,
        "sha256": content_hash(pieces),
    }
    return Corpus(name, pieces, record, sources, p_src, p_rec, p_start, kset)


def _genome(shared: Path, species: str) -> list[Source]:
    out = []
    for fname in GENOMES[species]:
        path = shared / "genomes" / fname
        if not path.is_file():
            raise FileNotFoundError(f"corpus material missing: {path} (see ../shared/data/README.md)")
        recs = list(read_fasta(path))
        out.append(Source(fname, species, [s for _, s in recs], [n for n, _ in recs]))
    return out


def _gue_sources(shared: Path, species: str, splits=None) -> list[Source]:
    splits = gue_train_splits(shared / "gue") if splits is None else splits
    return [Source(src, species, seqs) for src, seqs in splits.get(species, [])]


def _fasta_paths(fasta) -> list[str]:
    if isinstance(fasta, (str, os.PathLike)):
        fasta = [fasta]
    # entries may be patterns (genomes/*.fa.gz): one FASTA per genome is the usual multi-species layout
    paths = [p for entry in fasta for p in (sorted(glob.glob(str(entry))) if glob.has_magic(str(entry)) else [entry])]
    if not paths:
        raise FileNotFoundError(f"FASTA {list(map(str, fasta))} matches no file")
    return [str(p) for p in paths]


def _species_of_file(path: str) -> str:
    name = Path(path).name
    for ext in (".gz", ".fa", ".fna", ".fasta", ".fas"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return name


def _fasta_sources(fasta, species: str | None) -> list[Source]:
    out = []
    for p in _fasta_paths(fasta):
        recs = list(read_fasta(p))
        out.append(Source(str(p), species or _species_of_file(p), [s for _, s in recs], [n for n, _ in recs]))
    return out


def build_human(
    scale: str = "cpu",
    shared_data: str | os.PathLike | None = None,
    fasta=None,
    seed: int = 0,
    evaluate=None,
    data_dir=None,
) -> Corpus:
    """Human DNA only: GUE human train splits + GRCh38 fragments (cpu), or the hg38 FASTA (paper).

    `seed` is unused (nothing is subsampled) and kept for the registry's common signature.
    """
    kset = eval_kmers(evaluate, shared_data, data_dir)
    if scale == "paper":
        if not fasta:
            raise ValueError("the paper-scale corpus 'human' needs corpus_fasta: the hg38 FASTA (e.g. UCSC hg38.fa.gz)")
        return _corpus("human", "paper", _fasta_sources(fasta, "human"), kset)
    shared = Path(shared_data or default_shared_data())
    return _corpus("human", "cpu", _gue_sources(shared, "human") + _genome(shared, "human"), kset)


def build_multispecies(
    scale: str = "cpu",
    shared_data: str | os.PathLike | None = None,
    fasta=None,
    seed: int = 0,
    evaluate=None,
    data_dir=None,
) -> Corpus:
    """Human + mouse + bacterium + plant of the same total size as `human` (cpu), or one FASTA per genome (paper)."""
    kset = eval_kmers(evaluate, shared_data, data_dir)
    if scale == "paper":
        if not fasta:
            raise ValueError(
                "the paper-scale corpus 'multispecies' needs corpus_fasta: one FASTA per genome "
                "(see data_scripts/corpora.py)"
            )
        return _corpus("multispecies", "paper", _fasta_sources(fasta, None), kset)
    shared = Path(shared_data or default_shared_data())
    gue = gue_train_splits(shared / "gue")
    sources = (
        _gue_sources(shared, "human", gue)
        + _genome(shared, "human")
        + _gue_sources(shared, "mouse", gue)
        + _genome(shared, "bacterium")
        + _genome(shared, "plant")
    )
    # the budgets come from the filtered material: run the filter once, water-fill, then subsample
    full = _corpus("multispecies", "cpu", sources, kset)
    available = dict(full.record["species"])
    alloc = water_fill(available, available["human"])  # total = the human corpus (the same human material)
    return _subsample(full, alloc, seed)


def _subsample(full: Corpus, alloc: Mapping[str, int], seed: int) -> Corpus:
    """`full` cut down to `alloc` bp per species (whole pieces in a seeded order, the last cut to fit)."""
    rng = np.random.default_rng([seed, 0xC0])
    lens = np.fromiter(map(len, full.sequences), np.int64, len(full.sequences))
    species_of = np.array(full.piece_species)
    pieces = list(full.sequences)
    keep = np.zeros(len(pieces), bool)
    for sp in sorted(alloc):
        idx = np.flatnonzero(species_of == sp)
        want = int(alloc[sp])
        if want >= lens[idx].sum():
            keep[idx] = True
            continue
        order = idx[rng.permutation(len(idx))]
        cum = np.cumsum(lens[order])
        n_whole = int(np.searchsorted(cum, want, side="right"))
        keep[order[:n_whole]] = True
        left = want - (int(cum[n_whole - 1]) if n_whole else 0)
        if left > 0:
            j = int(order[n_whole])
            pieces[j] = pieces[j][:left]
            keep[j] = True
    sel = np.flatnonzero(keep)  # corpus order kept (sources in order, pieces in record order)
    pieces = [pieces[i] for i in sel]
    p_src = full.piece_source[sel]
    record = dict(full.record)
    material = {k: dict(v) for k, v in record["material"].items()}
    taken = np.bincount(
        p_src, weights=np.fromiter(map(len, pieces), np.int64, len(pieces)), minlength=len(full.sources)
    )
    species: dict[str, int] = {}
    for si, src in enumerate(full.sources):
        material[src.name]["bp_taken"] = int(taken[si])
        species[src.species] = species.get(src.species, 0) + int(taken[si])
    record.pop("sha256")
    record.update(
        {
            "bp": int(taken.sum()),
            "pieces": len(pieces),
            "species": {sp: species[sp] for sp in sorted(species)},
            "material": material,
            "species_available": {sp: int(lens[species_of == sp].sum()) for sp in sorted(alloc)},
            "species_allocated": {sp: int(alloc[sp]) for sp in sorted(alloc)},
            "subsampling": "water-filling: equal shares of the human corpus size, capped by what a species has; "
            "a subsampled species gives whole pieces in a seeded order, the last cut to fit",
        }
    )
    record["sha256"] = content_hash(pieces)
    return Corpus(
        full.name, pieces, record, full.sources, p_src, full.piece_record[sel], full.piece_start[sel], full.eval_kmers
    )


def corpus_from_fasta(
    fasta, name: str | None = None, species: str | None = None, evaluate=None, shared_data=None, data_dir=None
) -> Corpus:
    """A corpus of FASTA files (train.py's `pretrain_fasta`): each file one species (its name) unless `species`."""
    kset = eval_kmers(evaluate, shared_data, data_dir)
    paths = _fasta_paths(fasta)
    return _corpus(name or "+".join(Path(p).name for p in paths), "fasta", _fasta_sources(paths, species), kset)


def corpus_from_task(
    task: str,
    sequences: Sequence[str] | None = None,
    name: str | None = None,
    evaluate=None,
    shared_data=None,
    data_dir=None,
) -> Corpus:
    """A corpus of a task's train split (train.py's `pretrain_task`), filtered against the evaluated tasks
    and always against the task's own dev and test splits.

    `sequences`: the train split when the caller has it loaded; otherwise it is read from the shared GUE
    CSVs when the task is there, else with `load_task(task, data_dir)` (`task` may be a task folder).
    """
    shared = Path(shared_data or default_shared_data())
    folder_given = Path(task).is_dir()
    entry = None if folder_given else _task_entry(str(task))
    label = entry.name if entry else str(task)
    if sequences is None:
        folder = _gue_folder(shared / "gue", entry, ["train.csv"]) if entry and entry.benchmark == "gue" else None
        if folder is not None:
            sequences = _read_csv(folder / "train.csv")
        else:
            from .tasks import load_task

            sequences = load_task(str(task), data_dir=data_dir)["train"]["sequence"]
    seqs = _normalized_split(sequences, f"task {str(task)!r} split 'train'")
    if isinstance(evaluate, KmerSet):
        kset = evaluate
    else:
        items = list(evaluated_sequences(evaluate, shared, data_dir).items())
        own = evaluated_sequences([str(task)], shared, data_dir)
        kset = EvalKmers(dict(items + [kv for kv in own.items() if kv[0] not in dict(items)]))
    species_entry = _task_entry(Path(task).name) if folder_given else entry  # a folder named tf_2 -> gue/tf_2
    species = _species_of_task(species_entry) if species_entry else "unknown"
    return _corpus(name or label, "task", [Source(f"{label}:train", species, seqs)], kset)


if __name__ != "__main__":  # `python -m data_scripts.corpora` imports the package (which registers) first
    CORPORA.register(
        "human",
        CorpusEntry(
            "human", build_human, "human DNA only (GUE human train splits + GRCh38 at CPU scale; hg38 at paper scale)"
        ),
    )
    CORPORA.register(
        "multispecies",
        CorpusEntry("multispecies", build_multispecies, "human + mouse + bacterium + plant, same total size as human"),
    )


def water_fill(available: dict[str, int], total: int) -> dict[str, int]:
    """Equal shares of `total`, capped by what each species has; the shortfall goes to the others."""
    left, alloc = total, {}
    pending = sorted(available, key=available.get)  # smallest first: they may not fill their share
    while pending:
        sp = pending.pop(0)
        fair = left // (len(pending) + 1) if pending else left
        alloc[sp] = min(available[sp], fair)
        left -= alloc[sp]
    return alloc


# ------------------------------------------------------------------------------------------- windows


@dataclass
class WindowDraw:
    """Training and held-out windows, the record, and each window's spans (window, piece, start, end)."""

    train: list[str]
    eval: list[str]
    record: dict
    train_spans: np.ndarray
    eval_spans: np.ndarray


def split_heldout(
    corpus: Corpus, length: int, eval_fraction: float = EVAL_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(training units, held-out units), each rows of (piece, start, end), by `HELDOUT_RULE`."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    rng = np.random.default_rng([seed, 0xE7A1])
    lens = np.fromiter(map(len, corpus.sequences), np.int64, len(corpus.sequences))
    long_min = math.ceil(length / eval_fraction) if eval_fraction > 0 else np.inf
    train, held = [], []
    for si in range(len(corpus.sources)):
        idx = np.flatnonzero(corpus.piece_source == si)
        if not len(idx):
            continue
        long = idx[lens[idx] >= long_min]
        short = idx[lens[idx] < long_min]
        if len(short):
            perm = short[rng.permutation(len(short))]
            target = round(eval_fraction * lens[short].sum())
            n_held = int(np.searchsorted(np.cumsum(lens[perm]), target, side="right"))
            for p, side in ((perm[:n_held], held), (perm[n_held:], train)):
                side.append(np.column_stack([p, np.zeros(len(p), np.int64), lens[p]]))
        for p in long:
            n = int(lens[p])
            hb = round(eval_fraction * n)
            a = int(rng.integers(0, n - hb + 1))
            held.append(np.array([[p, a, a + hb]], np.int64))
            train.append(np.array([[p, 0, a], [p, a + hb, n]], np.int64))
    cat = lambda parts: np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 3), np.int64)  # noqa: E731
    train_u, held_u = cat(train), cat(held)
    return train_u[train_u[:, 2] > train_u[:, 1]], held_u[held_u[:, 2] > held_u[:, 1]]


def _largest_remainder(n: int, weights: Mapping[str, int]) -> dict[str, int]:
    total = sum(weights.values())
    if not total:
        return {k: 0 for k in weights}
    exact = {k: n * w / total for k, w in weights.items()}
    out = {k: int(math.floor(v)) for k, v in exact.items()}
    for k in sorted(weights, key=lambda k: (-(exact[k] - out[k]), k))[: n - sum(out.values())]:
        out[k] += 1
    return out


def _union_bp(a: np.ndarray, b: np.ndarray) -> int:
    if not len(a):
        return 0
    o = np.argsort(a, kind="stable")
    a, b = a[o], b[o]
    prev = np.empty_like(b)
    prev[0] = a[0]
    prev[1:] = np.maximum.accumulate(b)[:-1]
    return int(np.clip(b - np.maximum(a, prev), 0, None).sum())


def _draw_side(corpus: Corpus, units: np.ndarray, length: int, n: int, rng, what: str):
    seqs = corpus.sequences
    unit_species = np.array(corpus.piece_species, dtype=object)[units[:, 0]] if len(units) else np.zeros(0, object)
    unit_len = units[:, 2] - units[:, 1]
    species = sorted(set(unit_species.tolist()))
    bp_sp = {sp: int(unit_len[unit_species == sp].sum()) for sp in species}
    eligible = {sp: bp for sp, bp in bp_sp.items() if bp >= length}
    if n > 0 and not eligible:
        raise ValueError(
            f"{what}: {sum(bp_sp.values()):,} bp of material, less than one {length} bp window per species; "
            "use shorter windows, a larger eval_fraction or more material"
        )
    alloc = _largest_remainder(n, eligible) if n > 0 else {}
    windows, spans, dropped, passes_by_sp = [], [], 0, {}
    for sp in species:
        need = alloc.get(sp, 0)
        u = units[unit_species == sp]
        passes = 0
        while need > 0:
            passes += 1
            if passes > 1000 + 10 * alloc[sp]:
                raise RuntimeError(f"{what}: could not draw clean {sp} windows (junction leakage everywhere?)")
            uo = u[rng.permutation(len(u))]
            ulen = uo[:, 2] - uo[:, 1]
            ends = np.cumsum(ulen)
            begins = ends - ulen
            total = int(ends[-1])
            off = int(rng.integers(0, min(length, total - length + 1)))
            n_tiles = (total - off) // length
            picks = np.sort(rng.choice(n_tiles, size=min(n_tiles, need), replace=False))
            cand, cand_spans = [], []
            for j in picks:
                st = off + int(j) * length
                i = int(np.searchsorted(ends, st, side="right"))
                pos, left, parts, sp_rows = st - int(begins[i]), length, [], []
                while left:
                    p, a0 = int(uo[i, 0]), int(uo[i, 1])
                    seg = min(int(ulen[i]) - pos, left)
                    parts.append(seqs[p][a0 + pos : a0 + pos + seg])
                    sp_rows.append((p, a0 + pos, a0 + pos + seg))
                    left -= seg
                    i, pos = i + 1, 0
                cand.append("".join(parts))
                cand_spans.append(sp_rows)
            if corpus.eval_kmers is not None:
                multi = [w for w, s in enumerate(cand_spans) if len(s) > 1]  # a window inside one piece is clean
                bad = (
                    set(np.asarray(multi)[corpus.eval_kmers.any_hit([cand[w] for w in multi])].tolist())
                    if multi
                    else set()
                )
            else:
                bad = set()
            for w in range(len(cand)):
                if w in bad:
                    dropped += 1
                    continue
                windows.append(cand[w])
                spans.append(cand_spans[w])
                need -= 1
        passes_by_sp[sp] = passes
    order = rng.permutation(len(windows))
    windows = [windows[i] for i in order]
    spans = [spans[i] for i in order]
    span_arr = np.array([(w, p, a, b) for w, rows in enumerate(spans) for p, a, b in rows], np.int64).reshape(-1, 4)
    # the record: what the model actually sees
    offsets = np.zeros(len(seqs) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, seqs), np.int64, len(seqs)), out=offsets[1:])
    gp = offsets[span_arr[:, 1]] if len(span_arr) else np.zeros(0, np.int64)
    seg_len = span_arr[:, 3] - span_arr[:, 2]
    piece_sp = np.array(corpus.piece_species, dtype=object)
    src_names = np.array([s.name for s in corpus.sources], dtype=object)
    seg_sp = piece_sp[span_arr[:, 1]] if len(span_arr) else np.zeros(0, object)
    seg_src = src_names[corpus.piece_source[span_arr[:, 1]]] if len(span_arr) else np.zeros(0, object)
    material = int(unit_len.sum())
    drawn = len(windows) * length
    distinct = _union_bp(gp + span_arr[:, 2], gp + span_arr[:, 3])
    sp_bp = {sp: int(seg_len[seg_sp == sp].sum()) for sp in species}
    u_src = src_names[corpus.piece_source[units[:, 0]]] if len(units) else np.zeros(0, object)
    rec = {
        "windows": len(windows),
        "bp_drawn": drawn,
        "material_bp": material,
        "distinct_bp": distinct,
        "passes": round(drawn / material, 4) if material else 0.0,
        "coverage": round(distinct / material, 4) if material else 0.0,
        "species_bp": sp_bp,
        "species_share": {sp: round(bp / drawn, 4) if drawn else 0.0 for sp, bp in sp_bp.items()},
        "species_windows": {sp: int(alloc.get(sp, 0)) for sp in species},
        "material_species_bp": bp_sp,
        "source_bp": {s: int(seg_len[seg_src == s].sum()) for s in dict.fromkeys(src_names.tolist())},
        "material_source_bp": {s: int(unit_len[u_src == s].sum()) for s in dict.fromkeys(src_names.tolist())},
        "stream_orders": passes_by_sp,
        "windows_spanning_pieces": int(sum(len(s) > 1 for s in spans)),
        "junction_windows_dropped": dropped,
        "sha256": content_hash(windows),
    }
    return windows, span_arr, rec, (gp + span_arr[:, 2], gp + span_arr[:, 3])


def plan_windows(
    corpus: Corpus, length: int, n_train: int, n_eval: int, seed: int = 0, eval_fraction: float = EVAL_FRACTION
) -> WindowDraw:
    """`draw_windows` with each window's spans (for checks): see the module docstring for the rules."""
    if length < 1:
        raise ValueError(f"window length must be positive, got {length}")
    if n_eval > 0 and eval_fraction <= 0:
        raise ValueError("held-out windows need eval_fraction > 0")
    train_u, held_u = split_heldout(corpus, length, eval_fraction, seed)
    rng = np.random.default_rng([seed, 0xD7A3])
    tw, ts, trec, tiv = _draw_side(corpus, train_u, length, n_train, rng, "training windows")
    ew, es, erec, eiv = _draw_side(corpus, held_u, length, n_eval, rng, "held-out windows")
    overlap = (
        _union_bp(*tiv)
        + _union_bp(*eiv)
        - _union_bp(np.concatenate([tiv[0], eiv[0]]), np.concatenate([tiv[1], eiv[1]]))
    )
    record = {
        "corpus": corpus.record.get("name", corpus.name),
        "corpus_sha256": corpus.record.get("sha256"),
        "window_length": length,
        "seed": seed,
        "eval_fraction": eval_fraction,
        "boundary_rule": BOUNDARY_RULE,
        "heldout_rule": HELDOUT_RULE,
        "train": trec,
        "eval": erec,
        "train_eval_shared_bp": int(overlap),
        "leakage_screened": corpus.eval_kmers is not None,
    }
    return WindowDraw(tw, ew, record, ts, es)


def draw_windows(
    corpus: Corpus, length: int, n_train: int, n_eval: int, seed: int = 0, eval_fraction: float = EVAL_FRACTION
) -> tuple[list[str], list[str], dict]:
    """(training windows, held-out windows, record): the one call a pretraining run makes.

    Held-out windows come from material set aside before drawing (`HELDOUT_RULE`, `eval_fraction` of
    each source); windows are packed from N-free pieces of one species (`BOUNDARY_RULE`); the record
    says what was drawn (windows, bp drawn, distinct bp, passes, bp per species and per source, for
    `train` and `eval`). Deterministic for a given corpus, arguments and seed.
    """
    d = plan_windows(corpus, length, n_train, n_eval, seed, eval_fraction)
    return d.train, d.eval, d.record


# ----------------------------------------------------------------------------------------------- CLI


def _summary(c: Corpus) -> str:
    r = c.record
    mix = ", ".join(f"{sp} {bp:,} bp ({bp / r['bp']:.0%})" for sp, bp in r["species"].items())
    lines = [f"{c.name:13s} {r['bp']:>11,} bp  {r['pieces']:,} pieces  sha256 {r['sha256'][:16]}  [{mix}]"]
    leak = r["leakage"]
    if leak.get("filtered"):
        lines.append(
            f"{'':13s} leakage filter ({leak['k']}-mers, both strands, {len(leak['evaluated'])} dev/test splits, "
            f"{leak['distinct_kmers']:,} k-mers, {leak['seconds']:.1f} s): removed "
            f"{leak['removed_sequences']:,} sequences / {leak['removed_bp']:,} bp"
        )
    else:
        lines.append(f"{'':13s} leakage filter OFF: {leak['note']}")
    for src, m in r["material"].items():
        lr = leak["removed"][src]
        lines.append(
            f"{'':13s}   {src:45s} {m['species']:9s} in {m['bp_in']:>10,} bp, leak -{lr['removed_bp']:>8,} bp "
            f"({lr['removed_sequences']:,} seqs removed, {lr['cut_sequences']} cut), taken {m['bp_taken']:>10,} bp"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Print (and optionally write) each CPU-scale pretraining corpus.")
    ap.add_argument("--shared-data", default=None, help="the shared real data folder (default ../shared/data)")
    ap.add_argument(
        "--evaluate",
        nargs="*",
        default=None,
        help="tasks whose dev/test sets are filtered out (default: every GUE task under <shared-data>/gue)",
    )
    ap.add_argument("--write", metavar="DIR", default=None, help="write DIR/<corpus>.fa and DIR/<corpus>.json")
    ap.add_argument("--windows", type=int, default=0, help="also draw this many training windows and print the record")
    ap.add_argument("--eval-windows", type=int, default=512)
    ap.add_argument("--length", type=int, default=512, help="window length for --windows")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    kset = eval_kmers(args.evaluate, args.shared_data)
    for name, entry in CORPORA.items():
        c = entry.build("cpu", args.shared_data, None, seed=args.seed, evaluate=kset if kset is not None else ())
        print(_summary(c))
        out = dict(c.record)
        if args.windows:
            _, _, wrec = draw_windows(c, args.length, args.windows, args.eval_windows, seed=args.seed)
            out["windows"] = wrec
            for side in ("train", "eval"):
                w = wrec[side]
                mix = ", ".join(f"{sp} {v:.1%}" for sp, v in w["species_share"].items())
                print(
                    f"{'':13s} {side:5s} {w['windows']:,} x {args.length} bp: distinct {w['distinct_bp']:,} of "
                    f"{w['material_bp']:,} bp, passes {w['passes']:.3f}, [{mix}]"
                )
        if args.write:
            d = Path(args.write)
            c.write_fasta(d / f"{name}.fa")
            (d / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
            print(f"{'':13s} wrote {d / f'{name}.fa'} and {d / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    from data_scripts.corpora import main as _main  # the registered module, not this __main__ copy

    raise SystemExit(_main())

"""Named pretraining corpora: `human` and `multispecies`, at CPU scale and at paper scale.

The pretraining corpus is an axis of the assessment: the same architecture pretrained on human DNA
only, or on a multi-species mix of the same total size, so that only the species mix differs.

CPU scale (built here from real data in ../shared/data, never from a dev or test split):
- `human`: the train splits of the human GUE tasks present (promoters, human TF binding, splice) and
  the GRCh38 fragments in `genomes/`.
- `multispecies`: the same human material, the mouse GUE train splits, the Corynebacterium
  diphtheriae chromosome and the Arabidopsis thaliana chloroplast, subsampled to exactly the total
  size of `human`. Each species gets an equal share of that size, except species with less material,
  which give all they have, the rest going to the others (water-filling); pieces are 1 kb chunks (or
  whole shorter sequences) drawn in a seeded order.

Paper scale (`corpus_fasta` files the user supplies):
- `human`: hg38 (e.g. UCSC `hg38.fa.gz`).
- `multispecies`: one FASTA per genome. DNABERT-2's corpus (Zhou et al. 2023, §4 and appendix) is the
  reference genomes of 135 species from NCBI across fungi, protozoa, invertebrates, vertebrates and
  bacteria, 32.49 B bases, with N-containing pieces removed; to rebuild it, download those assemblies
  and pass them all. A secondary summary of the paper is our source for these figures.

`python -m data_scripts.corpora` prints the record (bp per species, content hash) of each CPU-scale corpus.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnalm_core.policy import normalize_sequence
from dnalm_core.registry import CORPORA, TASKS, CorpusEntry

from .fasta import content_hash, read_fasta

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1000  # bp per piece when a long genome is cut for sampling

# GUE task group -> species (GUE paper, Table 1: human, mouse, yeast, virus)
_GROUP_SPECIES = (("mouse", "mouse"), ("EMP", "yeast"), ("virus", "virus"))

GENOMES = {
    "human": ["human_GRCh38_fragments_biopython.fa"],
    "bacterium": ["C_diphtheriae_NCTC11397_NZ_LN831026.1.fna.gz"],
    "plant": ["A_thaliana_chloroplast_NC_000932.fa"],
}


def default_shared_data() -> Path:
    return Path(os.environ.get("DNALM_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass
class Corpus:
    name: str
    sequences: list[str]
    record: dict


def _species_of_task(entry) -> str:
    for key, species in _GROUP_SPECIES:
        if key in entry.group:
            return species
    return "human"


def gue_train_splits(gue_dir: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """{species: [(source, sequences)]} from the train.csv of every GUE task found under `gue_dir`.

    A task is found in the official layout (`<gue_dir>/<group>/<task>/train.csv`) or as a flat folder
    named like its registry config (`<gue_dir>/prom_core_tata/train.csv`). Only train splits are read.
    """
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for name, entry in TASKS.items():
        if entry.benchmark != "gue":
            continue
        for folder in (gue_dir / entry.source_path, gue_dir / entry.config_name):
            path = folder / "train.csv"
            if path.is_file():
                with open(path, newline="") as fh:
                    seqs = [normalize_sequence(row["sequence"]) for row in csv.DictReader(fh)]
                out.setdefault(_species_of_task(entry), []).append((f"{name}:train", seqs))
                break
    return out


def _genome(shared: Path, species: str) -> list[tuple[str, list[str]]]:
    out = []
    for fname in GENOMES[species]:
        path = shared / "genomes" / fname
        if not path.is_file():
            raise FileNotFoundError(f"corpus material missing: {path} (see ../shared/data/README.md)")
        out.append((fname, [s for _, s in read_fasta(path)]))
    return out


def _pieces(sources: list[tuple[str, list[str]]], seed: int) -> list[str]:
    pieces = []
    for _, seqs in sources:
        for s in seqs:
            pieces.extend(s[i:i + CHUNK] for i in range(0, len(s), CHUNK))
    order = np.random.default_rng(seed).permutation(len(pieces))
    return [pieces[i] for i in order]


def _take(pieces: list[str], budget: int) -> list[str]:
    out, total = [], 0
    for p in pieces:
        if total >= budget:
            break
        p = p[: budget - total]
        out.append(p)
        total += len(p)
    return out


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


def _record(name: str, scale: str, by_species: dict[str, list[str]], sources: list[str]) -> Corpus:
    seqs = [s for sp in sorted(by_species) for s in by_species[sp]]
    return Corpus(name, seqs, {
        "name": name,
        "scale": scale,
        "bp": int(sum(len(s) for s in seqs)),
        "species": {sp: int(sum(len(s) for s in by_species[sp])) for sp in sorted(by_species)},
        "sources": sources,
        "sha256": content_hash(seqs),
    })


def _human_material(shared: Path) -> list[tuple[str, list[str]]]:
    gue = gue_train_splits(shared / "gue").get("human", [])
    return gue + _genome(shared, "human")


def build_human(scale: str = "cpu", shared_data: str | os.PathLike | None = None, fasta=None, seed: int = 0) -> Corpus:
    if scale == "paper":
        return _from_fasta("human", fasta, "the hg38 FASTA (e.g. UCSC hg38.fa.gz)")
    shared = Path(shared_data or default_shared_data())
    material = _human_material(shared)
    return _record("human", "cpu", {"human": [s for _, seqs in material for s in seqs]}, [src for src, _ in material])


def build_multispecies(scale: str = "cpu", shared_data: str | os.PathLike | None = None, fasta=None, seed: int = 0) -> Corpus:
    if scale == "paper":
        return _from_fasta("multispecies", fasta, "one FASTA per genome (see modeling/corpora.py)")
    shared = Path(shared_data or default_shared_data())
    human = build_human("cpu", shared)
    gue = gue_train_splits(shared / "gue")
    material = {
        "human": _human_material(shared),
        "mouse": gue.get("mouse", []),
        "bacterium": _genome(shared, "bacterium"),
        "plant": _genome(shared, "plant"),
    }
    material = {sp: m for sp, m in material.items() if m}
    available = {sp: sum(len(s) for _, seqs in m for s in seqs) for sp, m in material.items()}
    alloc = water_fill(available, human.record["bp"])
    by_species = {sp: _take(_pieces(material[sp], seed), alloc[sp]) for sp in material}
    sources = [src for m in material.values() for src, _ in m]
    return _record("multispecies", "cpu", by_species, sources)


def _from_fasta(name: str, fasta, what: str) -> Corpus:
    if not fasta:
        raise ValueError(f"the paper-scale corpus {name!r} needs corpus_fasta: {what}")
    # entries may be patterns (genomes/*.fa.gz): one FASTA per genome is the usual multi-species layout
    paths = [p for entry in fasta for p in (sorted(glob.glob(str(entry))) if glob.has_magic(str(entry)) else [entry])]
    if not paths:
        raise FileNotFoundError(f"corpus_fasta {list(map(str, fasta))} matches no file")
    seqs = [s for path in paths for _, s in read_fasta(path)]
    return _record(name, "paper", {"all": seqs}, [str(p) for p in paths])


CORPORA.register("human", CorpusEntry("human", build_human, "human DNA only (GUE human train splits + GRCh38 at CPU scale; hg38 at paper scale)"))
CORPORA.register("multispecies", CorpusEntry("multispecies", build_multispecies, "human + mouse + bacterium + plant, same total size as human"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Print the record of each CPU-scale pretraining corpus.")
    ap.add_argument("--shared-data", default=None, help="the shared real data folder (default ../shared/data)")
    args = ap.parse_args(argv)
    for name, entry in CORPORA.items():
        c = entry.build("cpu", args.shared_data)
        r = c.record
        mix = ", ".join(f"{sp} {bp:,} bp ({bp / r['bp']:.0%})" for sp, bp in r["species"].items())
        print(f"{name:13s} {r['bp']:>11,} bp  sha256 {r['sha256'][:16]}  {len(c.sequences):,} pieces  [{mix}]")
        print(f"{'':13s} sources: {', '.join(r['sources'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Genomic Benchmarks (Grešová et al. 2023): interval lists turned into sequences with reference FASTAs.

Coordinate convention (ML-Bioinfo-CEITEC/genomic_benchmarks, `datasets/README.md` and
`src/genomic_benchmarks/loc2seq/loc2seq.py` at commit 605d853): `start`/`end` are 0-based, end
exclusive, i.e. the sequence is the Python slice `chrom[start:end]` (BED convention); `strand` '-'
means the reverse complement of that slice; '+' and an empty strand (human_ensembl_regulatory,
human_ocr_ensembl) mean the slice as is.

Accepted layouts, per dataset, under `--source` (the package's `datasets/` folder or a copy of it):
- original: `<dataset>/{train,test}/<class>.csv[.gz]` with columns `id,region,start,end,strand`, the
  class being the file name (labels are the class names in sorted order);
- single table: `<dataset>.csv[.gz]` or `<dataset>/coordinates.csv[.gz]` with columns
  `id,region,start,end,strand,label,split` (label = class name or class index; split = train/test).

References: `--genome FASTA` (plain or gzipped, repeatable) serves every class; `--genome CLASS=FASTA`
serves only the rows of that class (needed for demo_human_or_worm, where human and worm chromosome
names collide). A region is found by its FASTA record name (first word of the header) or by the renames
the original package applies to Ensembl files: `1` -> `chr1`, `MT`/`mitochondrion_genome` -> `chrM`,
`ENST00000371014.5` -> `ENST00000371014`; a UCSC `chrI` also answers to `I`. Exact names win over renames.
Only the records the intervals need are kept in memory, one at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dnalm_core.registry import TaskEntry

from .common import BuildError, BuildOptions, Rows, SourceFile, SourceFileError, TaskBuild, finish_task, sha256_file
from .fasta import text_lines

CITATION = (
    """@article{grevsova2023genomic,
  title={Genomic benchmarks: a collection of datasets for genomic sequence classification},
  author={Gre{\\v{s}}ov{\\'a}, Katar{\\'\\i}na and Martinek, Vlastimil and {\\v{C}}ech{\\'a}k, David and """
    """{\\v{S}}ime{\\v{c}}ek, Petr and Alexiou, Panagiotis},
  journal={BMC Genomic Data},
  volume={24},
  number={1},
  pages={25},
  year={2023},
  publisher={Springer}
}"""
)

# Reference of each dataset as its metadata.yaml gives it (genomic_benchmarks @ 605d853).
REFERENCES = {
    "demo_coding_vs_intergenomic_seqs": "coding_seqs: Ensembl 97 GRCh38 cDNA (Homo_sapiens.GRCh38.cdna.all.fa.gz); "
    "intergenomic_seqs: Ensembl 97 GRCh38 genome (Homo_sapiens.GRCh38.dna.toplevel.fa.gz)",
    "demo_human_or_worm": "human: Ensembl 97 GRCh38 genome; worm: Ensembl 104 C. elegans WBcel235 genome",
    "drosophila_enhancers_stark": "Ensembl 100 D. melanogaster BDGP6.28 genome (= dm6)",
    "dummy_mouse_enhancers_ensembl": "Ensembl 100 mouse GRCm38 genome (= mm10)",
    "human_enhancers_cohn": "Ensembl 97 GRCh38 genome (= hg38)",
    "human_enhancers_ensembl": "Ensembl 100 GRCh38 genome (= hg38)",
    "human_ensembl_regulatory": "Ensembl 100 GRCh38 genome (= hg38)",
    "human_nontata_promoters": "Ensembl 97 GRCh38 genome (= hg38)",
    "human_ocr_ensembl": "Ensembl 100 GRCh38 genome (= hg38)",
}

_COMPLEMENT = str.maketrans("ACGTNRYSWKMBDHVacgtnryswkmbdhv", "TGCANYRSWMKVHDBtgcanyrswmkvhdb")
COORD_COLUMNS = ["id", "region", "start", "end", "strand"]


def reverse_complement(seq: str) -> str:
    """Reverse complement, keeping case and IUPAC codes (R<->Y, K<->M, B<->V, D<->H; S, W, N fixed)."""
    return seq.translate(_COMPLEMENT)[::-1]


def name_variants(record_id: str) -> list[str]:
    """Other names a FASTA record answers to (see the module docstring); the exact id is not included."""
    out = []
    if record_id.startswith("chr"):
        out.append(record_id[3:])
    else:
        out.append("chr" + record_id)
    if record_id in ("MT", "mitochondrion_genome", "chrMT"):
        out.append("chrM")
    m = re.fullmatch(r"(ENS[A-Z]*T\d+)\.\d+", record_id)
    if m:
        out.append(m.group(1))
    return out


@dataclass
class Interval:
    dataset: str
    split: str
    cls: str
    row: int  # position in the Rows of (dataset, split)
    region: str
    start: int
    end: int
    strand: str
    where: str  # file and row, for messages


def parse_genome_args(genomes: list[str]) -> list[tuple[str | None, Path]]:
    out = []
    for g in genomes or []:
        cls, sep, path = g.partition("=")
        if sep and not Path(g).exists():
            out.append((cls, Path(path)))
        else:
            out.append((None, Path(g)))
    for _, p in out:
        if not p.is_file():
            raise BuildError(
                f"--genome {p}: no such file (give a FASTA, plain or .gz; CLASS=FASTA to restrict it to one class)"
            )
    return out


def _fasta_records(path: Path, wanted):
    """Yield (record id, sequence) for every record; the sequence is None unless `wanted(record id)`,
    so a whole genome streams through while only the needed chromosomes are held, one at a time."""
    rid, lines, keep = None, [], False
    for line_no, line in text_lines(path):
        if line.startswith(">"):
            if rid is not None:
                yield rid, ("".join(lines) if keep else None)
            head = line[1:].split(None, 1)
            rid = head[0] if head else ""
            lines, keep = [], wanted(rid)
        elif keep:
            lines.append(line.strip())
        elif rid is None and line.strip():
            raise SourceFileError(
                f"{path}, line {line_no}: text before the first `>` header; check that this is a FASTA file"
            )
    if rid is None:
        raise SourceFileError(f"{path} holds no FASTA record (it is empty or blank); pass the intended reference")
    yield rid, ("".join(lines) if keep else None)


def extract(intervals: list[Interval], genomes: list[tuple[str | None, Path]]) -> dict[tuple[str, str, int], str]:
    """Sequence of every interval, keyed by (dataset, split, row)."""
    if not genomes:
        raise BuildError(
            "Genomic Benchmarks needs the reference genome(s): pass --genome FASTA (e.g. hg38 / "
            "Homo_sapiens.GRCh38.dna.toplevel.fa.gz; see the card for each dataset's reference)"
        )
    by_region: dict[str, list[Interval]] = {}
    for iv in intervals:
        by_region.setdefault(iv.region, []).append(iv)
    served: dict[tuple, tuple[bool, str, str]] = {}  # interval key -> (exact name?, record id, file)
    result: dict[tuple, str] = {}
    errors: dict[tuple, str] = {}
    for cls_only, path in genomes:
        relevant = {r: [iv for iv in ivs if cls_only in (None, iv.cls)] for r, ivs in by_region.items()}
        relevant = {r: ivs for r, ivs in relevant.items() if ivs}

        def wanted(rid: str, *, relevant: dict = relevant) -> bool:  # bound now: `relevant` changes per genome
            return rid in relevant or any(v in relevant for v in name_variants(rid))

        for rid, seq in _fasta_records(path, wanted):
            if seq is None:
                continue
            for name, exact in [(rid, True)] + [(v, False) for v in name_variants(rid)]:
                for iv in relevant.get(name, ()):
                    key = (iv.dataset, iv.split, iv.row)
                    prev = served.get(key)
                    if prev is not None:
                        if prev[0] and not exact:
                            continue  # an exact record name wins over a rename
                        if prev[0] == exact:
                            raise BuildError(
                                f"{iv.where}: region {iv.region!r} (class {iv.cls}) matches two FASTA records, "
                                f"{prev[1]!r} in {prev[2]} and {rid!r} in {path}; give each FASTA only the classes "
                                "it serves with --genome CLASS=FASTA"
                            )
                    served[key] = (exact, rid, str(path))
                    errors.pop(key, None)
                    if not 0 <= iv.start < iv.end <= len(seq):
                        errors[key] = (
                            f"{iv.where}: interval {iv.region}:{iv.start}-{iv.end} lies outside the record {rid!r} "
                            f"({len(seq)} bp) of {path}: the FASTA is probably another assembly than the dataset's "
                            f"({REFERENCES.get(iv.dataset, 'see the card')})"
                        )
                        continue
                    piece = seq[iv.start : iv.end]  # 0-based, end exclusive (BED / Python slice)
                    result[key] = reverse_complement(piece) if iv.strand == "-" else piece
    if errors:
        first = sorted(errors)[0]
        raise BuildError(f"{len(errors)} interval(s) do not fit the reference; first: {errors[first]}")
    missing = sorted({iv.region for iv in intervals if (iv.dataset, iv.split, iv.row) not in result})
    if missing:
        raise BuildError(
            f"{len(missing)} region(s) are in no --genome FASTA, e.g. {', '.join(missing[:6])}; pass the "
            "reference(s) the datasets were made from (see the card / REFERENCES) with --genome"
        )
    return result


def _read_coords(path: Path):
    import pandas as pd

    # keep_default_na=False: an empty strand stays "" (unstranded), not NaN
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _int(v, where: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise BuildError(f"{where}: {v!r} is not an integer coordinate") from None


def dataset_dir(source: Path, name: str) -> Path | None:
    for d in (source / name, source / "datasets" / name):
        if d.is_dir():
            return d
    return None


def _table_file(source: Path, name: str) -> Path | None:
    for base in (source, source / "datasets", source / name):
        for stem in (name, "coordinates"):
            for ext in (".csv", ".csv.gz"):
                p = base / f"{stem}{ext}"
                if p.is_file() and (stem == name or base.name == name):
                    return p
    return None


def read_dataset(source: Path, entry: TaskEntry):
    """(rows per split without sequences, intervals, source files, layout) of one dataset."""
    name = entry.config_name
    classes = list(entry.label_names)
    rows = {"train": Rows(), "test": Rows()}
    intervals: list[Interval] = []
    sources: list[SourceFile] = []

    def add(split, cls, label, rid, region, start, end, strand, where):
        r = rows[split]
        if strand not in ("+", "-", "", "."):
            raise BuildError(f"{where}: strand {strand!r} is not '+', '-' or empty")
        intervals.append(
            Interval(name, split, cls, len(r), region, _int(start, where), _int(end, where), strand, where)
        )
        # id = split/class/original id: the original ids restart in every class file
        r.ids.append(f"{split}/{cls}/{rid}")
        r.sequences.append("")
        r.labels.append(label)
        r.origins.append(where)

    d = dataset_dir(source, name)
    class_files = sorted(d.glob("t*/*.csv*")) if d is not None else []
    class_files = [p for p in class_files if p.parent.name in ("train", "test")]
    if class_files:
        layout = "original (<dataset>/{train,test}/<class>.csv.gz)"
        found = sorted({p.name.split(".")[0] for p in class_files})
        if found != sorted(classes):
            raise BuildError(
                f"{entry.name}: class files {found} under {d} do not match the dataset's classes {classes}"
            )
        for split in ("train", "test"):
            for label, cls in enumerate(classes):  # classes in label order, rows in file order
                files = [p for p in class_files if p.parent.name == split and p.name.split(".")[0] == cls]
                if len(files) != 1:
                    raise BuildError(f"{entry.name}: expected one {split}/{cls}.csv[.gz] under {d}, found {len(files)}")
                p = files[0]
                df = _read_coords(p)
                if list(df.columns[:5]) != COORD_COLUMNS:
                    raise BuildError(f"{p}: columns {list(df.columns)}; expected {','.join(COORD_COLUMNS)}")
                rel = p.relative_to(source).as_posix()
                for i, rec in enumerate(df.itertuples(index=False)):
                    add(split, cls, label, rec.id, rec.region, rec.start, rec.end, rec.strand, f"{rel} row {i}")
                sources.append(SourceFile(rel, sha256_file(p), len(df)))
        return rows, intervals, sources, layout

    p = _table_file(source, name)
    if p is None:
        return None
    layout = "single table (id,region,start,end,strand,label,split)"
    df = _read_coords(p)
    need = COORD_COLUMNS + ["label", "split"]
    if set(need) - set(df.columns):
        raise BuildError(f"{p}: lacks the column(s) {sorted(set(need) - set(df.columns))}; expected {','.join(need)}")
    rel = p.relative_to(source).as_posix()
    for i, rec in enumerate(df.itertuples(index=False)):
        where = f"{rel} row {i}"
        lab = str(rec.label)
        if lab in classes:
            label = classes.index(lab)
        elif lab.isdigit() and int(lab) < len(classes):
            label = int(lab)
        else:
            raise BuildError(
                f"{where}: label {lab!r} is not a class of {entry.name} ({', '.join(classes)}) "
                f"nor an index 0..{len(classes) - 1}"
            )
        if rec.split not in rows:
            raise BuildError(f"{where}: split {rec.split!r} is not train or test")
        add(rec.split, classes[label], label, rec.id, rec.region, rec.start, rec.end, rec.strand, where)
    sources.append(SourceFile(rel, sha256_file(p), len(df)))
    return rows, intervals, sources, layout


def build_tasks(source: Path, entries: list[TaskEntry], options: BuildOptions) -> tuple[list[TaskBuild], list[str]]:
    read, skipped = {}, []
    for e in entries:
        got = read_dataset(source, e)
        if got is None:
            if options.skip_missing:
                skipped.append(f"{e.name} (no coordinate files)")
                continue
            raise BuildError(
                f"{e.name}: no coordinate files under {source} (looked for {e.config_name}/train/*.csv.gz, "
                f"{e.config_name}/test/*.csv.gz, {e.config_name}.csv[.gz], {e.config_name}/coordinates.csv[.gz]); "
                "pass --skip-missing to build the datasets that are there"
            )
        read[e.name] = (e, got)
    all_intervals = [iv for _, (_, ivs, _, _) in read.values() for iv in ivs]
    seqs = extract(all_intervals, parse_genome_args(list(options.genomes))) if all_intervals else {}
    builds = []
    for e, (rows, ivs, sources, layout) in read.values():
        for split, r in rows.items():
            r.sequences = [seqs[(e.config_name, split, i)] for i in range(len(r))]
        n_minus = sum(1 for iv in ivs if iv.strand == "-")
        notes = [
            f"reference: {REFERENCES.get(e.config_name, 'see the source metadata.yaml')}",
            f"{n_minus} of {len(ivs)} intervals are on the '-' strand (reverse-complemented)",
        ]
        builds.append(
            finish_task(
                e,
                rows,
                sources=sources,
                source_layout=layout,
                where={s: "coordinates" for s in rows},
                options=options,
                extra_notes=notes,
            )
        )
    return builds, skipped

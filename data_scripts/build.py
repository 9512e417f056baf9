"""Build a benchmark's tasks into a Hugging Face dataset repository folder (and optionally push it).

    python -m data_scripts.build gue --source /path/to/GUE --out data/gue [--tasks prom_core_tata ...]
    python -m data_scripts.build nt  --source /path/to/nt_files --out build/nt
    python -m data_scripts.build gb  --source /path/to/genomic_benchmarks/datasets --out build/gb \\
        --genome hg38.fa.gz [--genome worm=WBcel235.fa.gz ...]
    ... --push-to-hub ORG/NAME      (opt-in; needs `hf auth login`)

The folder holds `README.md` (dataset card, one config per task), `dnalm_build.json` (what was built
from which files) and `<task>/{train,validation,test}.parquet`. It is written to a temporary sibling
folder and moved into place only when complete. Building into a folder that holds an earlier build of
the same benchmark adds the tasks to it (the card then lists all); any other non-empty folder is refused
unless --overwrite. A row of a validation or test split that breaks the input policy fails the build
unless --allow-dropped-eval-rows. See docs/datasets.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dnalm_core.hub import push_folder
from dnalm_core.tasks import BENCHMARKS, tasks_of

from . import card, genomic_benchmarks, gue, nt
from .common import (
    DEFAULT_SEED,
    DEFAULT_VALIDATION_FRACTION,
    Builder,
    BuildError,
    BuildOptions,
    dropped_lines,
    merged_configs,
    previous_build,
    write_repo,
)

BUILDERS: dict[str, Builder] = {"gue": gue, "nt": nt, "gb": genomic_benchmarks}


def select_tasks(benchmark: str, names: list[str] | None):
    entries = tasks_of(benchmark)
    if not names:
        return entries
    by_config = {e.config_name: e for e in entries}
    chosen = []
    for n in names:
        key = n.split("/", 1)[1] if n.startswith(benchmark + "/") else n
        if key not in by_config:
            raise BuildError(f"{n!r} is not a {benchmark} task; valid: {', '.join(by_config)}")
        if by_config[key] not in chosen:
            chosen.append(by_config[key])
    return chosen


def command_line(benchmark: str, tasks: list[str] | None, genomes: list[str] | None, seed: int, fraction: float) -> str:
    """The command recorded in the card, with placeholders for the machine-specific paths (the source
    files themselves are identified by their SHA-256 in the card)."""
    parts = ["python -m data_scripts.build", benchmark, "--source <source folder>", "--out <out folder>"]
    if tasks:
        parts.append("--tasks " + " ".join(tasks))
    for g in genomes or []:
        cls, sep, _ = g.partition("=")
        parts.append(f"--genome {cls}=<{cls} FASTA>" if sep and not Path(g).exists() else "--genome <FASTA>")
    if seed != DEFAULT_SEED:
        parts.append(f"--seed {seed}")
    if fraction != DEFAULT_VALIDATION_FRACTION:
        parts.append(f"--validation-fraction {fraction}")
    return " ".join(parts)


def build(
    benchmark: str,
    source,
    out,
    tasks: list[str] | None = None,
    *,
    genomes: list[str] | None = None,
    seed: int = DEFAULT_SEED,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    skip_missing: bool = False,
    overwrite: bool = False,
    allow_dropped_eval_rows: bool = False,
    repo_id: str | None = None,
    log=print,
) -> Path:
    """Build `tasks` (default: all of the benchmark) from `source` into the folder `out`; returns `out`."""
    if benchmark not in BENCHMARKS:
        raise BuildError(f"unknown benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
    source, out = Path(source), Path(out).resolve()
    if not source.is_dir():
        raise BuildError(f"--source {source} is not a folder")
    options = BuildOptions(seed, validation_fraction, skip_missing, allow_dropped_eval_rows, tuple(genomes or ()))
    previous_build(out, benchmark, options, overwrite)  # refuse before the (possibly long) build
    entries = select_tasks(benchmark, tasks)
    builds, skipped = BUILDERS[benchmark].build_tasks(source, entries, options)
    if not builds:
        raise BuildError(
            f"no {benchmark} task found under {source}; see `python -m data_scripts.build --help` "
            "for the accepted layouts"
        )
    for s in skipped:
        log(f"skipped (not in the source): {s}")
    # the card's command rebuilds the whole folder, earlier tasks included
    configs = merged_configs(previous_build(out, benchmark, options, overwrite), builds)
    everything = configs == [e.config_name for e in tasks_of(benchmark)]
    command = command_line(benchmark, None if everything else configs, genomes, seed, validation_fraction)
    extra = {"seed": seed, "validation_fraction": validation_fraction, "command": command}
    path = write_repo(
        out,
        benchmark,
        builds,
        lambda m: card.render(benchmark, m, command, repo_id),
        extra,
        options,
        overwrite=overwrite,
    )
    for b in builds:
        d = b.duplicates
        log(
            f"{b.entry.name}: "
            + ", ".join(f"{s} {len(b.splits[s])}" for s in b.splits)
            + f"; dropped {sum(len(p.dropped) for p in b.policy.values())}; "
            f"train/test leakage {d['across']['train/test']}"
        )
        for split, report in b.policy.items():
            for line in dropped_lines(b.entry, split, report):
                log(line)
    kept = [c for c in configs if c not in {b.entry.config_name for b in builds}]
    if kept:
        log(f"kept from the earlier build: {', '.join(kept)}")
    log(f"wrote {path}")
    return path


def push(out: Path, repo_id: str) -> str:
    """Upload the built folder to the Hub dataset repo `repo_id` (created if needed)."""
    return push_folder(out, repo_id, repo_type="dataset", commit_message="Upload with dnalm-assess data_scripts")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_scripts.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "benchmark",
        choices=sorted(BENCHMARKS),
        help="gue, nt (Nucleotide Transformer revised) or gb (Genomic Benchmarks)",
    )
    p.add_argument(
        "--source",
        required=True,
        help="folder with the benchmark's files (see the module docs of "
        "data_scripts.gue / .nt / .genomic_benchmarks for the layouts)",
    )
    p.add_argument(
        "--out",
        required=True,
        help="folder to write atomically; an earlier build of the same benchmark "
        "there is added to (its other tasks are kept)",
    )
    p.add_argument("--tasks", nargs="+", help="task names (config names, or with the benchmark prefix); default all")
    p.add_argument(
        "--genome",
        action="append",
        help="gb only: reference FASTA (plain or .gz), repeatable; CLASS=FASTA restricts it to one class",
    )
    p.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the validation split carved from train (nt, gb)"
    )
    p.add_argument("--validation-fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)
    p.add_argument("--skip-missing", action="store_true", help="build the tasks found and skip the others")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out whole, whatever it holds (another "
        "benchmark, files not written by this builder, earlier tasks)",
    )
    p.add_argument(
        "--allow-dropped-eval-rows",
        action="store_true",
        help="build even when rows of a validation or "
        "test split break the input policy (they are dropped and listed in the card and the log)",
    )
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the built folder to this Hub dataset repo")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        out = build(
            args.benchmark,
            args.source,
            args.out,
            args.tasks,
            genomes=args.genome,
            seed=args.seed,
            validation_fraction=args.validation_fraction,
            skip_missing=args.skip_missing,
            overwrite=args.overwrite,
            allow_dropped_eval_rows=args.allow_dropped_eval_rows,
            repo_id=args.push_to_hub,
        )
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.push_to_hub:
        try:
            url = push(out, args.push_to_hub)
        except Exception as err:  # offline, auth, permissions: the built folder stays as written
            print(f"error: {err}", file=sys.stderr)
            print(
                f"The built folder {out} is complete and unchanged; push it later from a machine with Hub access.",
                file=sys.stderr,
            )
            return 2
        print(f"pushed to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tokenizer throughput: Mbp/s of batch encoding on real GUE sequences, one thread.

    python benchmarks/tokenization.py                      # ~10 Mbp, all four families
    python benchmarks/tokenization.py --mbp 2 --families char kmer6-overlapping

Reads every `gue/<task>/{train,dev,test}.csv` under --data (default ../shared/data relative to the repo
root), cycles through the sequences until --mbp megabases, and times `tokenizer(batch)` over batches of
--batch-size sequences (what `datasets.map(batched=True)` does; default outputs: Python lists of ids and
attention masks). `--padded` times `tokenizer(batch, padding=True, return_tensors="np")` instead. Each
family runs --repeats times; the best time is reported (the least disturbed by other processes). On a
shared machine the CPU time of this process ("cpu s", from time.process_time) is the steadier figure:
wall time also counts the time other processes hold the core.
The raw `tokenizers` pipeline of the published DNABERT-2 BPE is timed as a reference row.

Before / after a change: `--save before.json` on the old code, then `--baseline before.json` on the new
one prints each family's CPU-time speed as a ratio to the baseline's (2.0 = twice as fast, 0.5 = half).
"""

from __future__ import annotations

import os

# One thread, set before `tokenizers` is imported (it reads the variable at start-up).
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modeling  # noqa: E402,F401  (registers the tokenizer families)
from dnalm_core.registry import TOKENIZERS  # noqa: E402

FAMILIES = ("char", "kmer6-overlapping", "kmer6-nonoverlapping", "bpe-published", "bpe-raw-tokenizers")


def gue_sequences(data: Path) -> list[str]:
    files = sorted((data / "gue").glob("*/*.csv"))
    if not files:
        raise SystemExit(f"no GUE csv files under {data / 'gue'}: pass --data <folder with gue/ and dnabert2/>")
    seqs: list[str] = []
    for file in files:
        with open(file, newline="") as handle:
            reader = csv.DictReader(handle)
            seqs.extend(row["sequence"] for row in reader)
    return seqs


def take_mbp(seqs: list[str], mbp: float) -> list[str]:
    """Cycle through `seqs` until `mbp` megabases (whole sequences)."""
    target = int(mbp * 1e6)
    out, total, i = [], 0, 0
    while total < target:
        s = seqs[i % len(seqs)]
        out.append(s)
        total += len(s)
        i += 1
    return out


def build(family: str, data: Path):
    if family == "char":
        return TOKENIZERS.get("char").build()
    if family == "kmer6-overlapping":
        return TOKENIZERS.get("kmer").build(k=6, overlapping=True)
    if family == "kmer6-nonoverlapping":
        return TOKENIZERS.get("kmer").build(k=6, overlapping=False)
    if family == "bpe-published":
        return TOKENIZERS.get("bpe").build(path=data / "dnabert2")
    if family == "bpe-raw-tokenizers":
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(data / "dnabert2" / "tokenizer.json"))
    raise SystemExit(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def time_family(tok, batches: list[list[str]], padded: bool, raw: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one pass over the batches."""
    start, cpu = time.perf_counter(), time.process_time()
    if raw:
        for batch in batches:
            [e.ids for e in tok.encode_batch(batch)]
    elif padded:
        for batch in batches:
            tok(batch, padding=True, return_tensors="np")
    else:
        for batch in batches:
            tok(batch)
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--mbp", type=float, default=10.0, help="megabases to encode per family (default 10)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--padded", action="store_true", help="padding=True, return_tensors='np'")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--save", type=Path, help="write the rows as JSON (a baseline for --baseline)")
    parser.add_argument("--baseline", type=Path, help="JSON from --save: print CPU-time speed ratios to it")
    args = parser.parse_args(argv)
    baseline = {r["family"]: r for r in json.loads(args.baseline.read_text())} if args.baseline else {}

    seqs = take_mbp(gue_sequences(args.data), args.mbp)
    bp = sum(map(len, seqs))
    batches = [seqs[i : i + args.batch_size] for i in range(0, len(seqs), args.batch_size)]
    mode = "padding=True, return_tensors='np'" if args.padded else "lists (default)"
    print(f"{len(seqs)} GUE sequences, {bp / 1e6:.2f} Mbp, batches of {args.batch_size}, {mode}, one thread")
    ratio_head = f"{'x baseline':>12}" if baseline else ""
    print(f"{'family':<24}{'Mbp':>8}{'seconds':>10}{'Mbp/s':>9}{'cpu s':>9}{'Mbp/s cpu':>11}{ratio_head}")
    rows = []
    for family in args.families:
        tok = build(family, args.data)
        raw = family == "bpe-raw-tokenizers"
        time_family(tok, batches[:2], args.padded, raw)  # warm-up (first-call set-up)
        runs = [time_family(tok, batches, args.padded, raw) for _ in range(max(1, args.repeats))]
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        row = {
            "family": family,
            "mbp": bp / 1e6,
            "seconds": wall,
            "mbp_per_s": bp / 1e6 / wall,
            "cpu_seconds": cpu,
            "mbp_per_cpu_s": bp / 1e6 / max(cpu, 1e-9),
        }
        rows.append(row)
        ratio = ""
        if family in baseline:
            row["x_baseline"] = row["mbp_per_cpu_s"] / baseline[family]["mbp_per_cpu_s"]
            ratio = f"{row['x_baseline']:>12.2f}"
        print(
            f"{family:<24}{row['mbp']:>8.2f}{wall:>10.3f}{row['mbp_per_s']:>9.2f}{cpu:>9.3f}"
            f"{row['mbp_per_cpu_s']:>11.2f}{ratio}",
            flush=True,
        )
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()

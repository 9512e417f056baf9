"""Print the record of each CPU-scale pretraining corpus (bp per species, content hash, sources).

    python -m data_scripts.corpora [--shared-data ../shared/data]
"""

import argparse

from modeling.registry import CORPORA
import modeling  # noqa: F401  (registers the corpora)


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

"""Lay out a folder that is a Hugging Face Space repository: upload it as a Gradio Space.

    python -m space.bundle build/space --results reports/cpu/leaderboard
    hf upload <user>/<space> build/space . --repo-type space      # online, with a token

The folder holds the Space card (space/README.md, whose YAML header says `sdk: gradio`, `app_file: app.py`)
and space/requirements.txt at its root, a two-line root `app.py` that runs `space.app`, the `space` package,
the parts of the suite the app imports (`dnalm_core`: the task registry and the Hub helpers; `assess/results.py`
with what it imports, `assess/stats.py`, `assess/spec.py` and `training/records.py`: the cells and labels the
report uses; none of them imports torch), and, with --results, a copy of the leaderboard folder as `leaderboard/`
(with summary.json / report.md / references beside it), which the app reads by default.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ("dnalm_core",)
SPACE_FILES = ("__init__.py", "app.py", "board.py", "safety.py", "submission.py")
ROOT_APP = '''"""Hugging Face Space entry point: the leaderboard app of dnalm-assess (space/app.py)."""
from space.app import main

raise SystemExit(main())
'''
# single modules the app needs from packages that also hold torch code (the rest of those packages stays out)
MODULES = (
    "assess/__init__.py",
    "assess/results.py",
    "assess/stats.py",
    "assess/spec.py",
    "training/__init__.py",
    "training/records.py",
)
SIDE_FILES = ("summary.json", "report.md", "references.json", "references.yaml")


def _ignore(_dir, names):
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def bundle(out: Path, results: Path | None = None) -> Path:
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "space" / "README.md", out / "README.md")
    shutil.copy2(ROOT / "space" / "requirements.txt", out / "requirements.txt")
    (out / "app.py").write_text(ROOT_APP)
    (out / "space").mkdir()
    for name in SPACE_FILES:
        shutil.copy2(ROOT / "space" / name, out / "space" / name)
    for pkg in SUITE:
        shutil.copytree(ROOT / pkg, out / pkg, ignore=_ignore)
    for name in MODULES:
        (out / name).parent.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, out / name)
    if results is not None:
        shutil.copytree(results, out / "leaderboard", ignore=_ignore)
        for name in SIDE_FILES:  # the report's files sit beside the leaderboard folder
            src = results.parent / name
            if src.is_file() and not (out / "leaderboard" / name).exists():
                shutil.copy2(src, out / "leaderboard" / name)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m space.bundle", description=__doc__.splitlines()[0])
    ap.add_argument("out", help="a new folder")
    ap.add_argument(
        "--results", default=None, help="leaderboard folder to ship as leaderboard/ (e.g. reports/cpu/leaderboard)"
    )
    args = ap.parse_args(argv)
    try:
        out = bundle(Path(args.out), Path(args.results) if args.results else None)
    except (FileExistsError, FileNotFoundError) as err:
        print(f"bundle: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}: upload it as a Gradio Space (README.md holds the Space card)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

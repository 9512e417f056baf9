"""A screenshot of the running Space (headless Debian chromium; see space/browser.py).

python -m space.screenshot --results reports/cpu/leaderboard --out reports/space_leaderboard.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .browser import chromium_browser, running_app, wait_for_table

TABS = {
    "leaderboard": "Leaderboard",
    "regime": "Architecture x regime",
    "compute": "Score vs compute",
    "submit": "Submit a run",
}


def take(
    results: str, out: Path, tab: str = "leaderboard", width: int = 1680, height: int = 1000, full_page: bool = True
) -> Path:
    with running_app(results) as url, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
        page.goto(url)
        wait_for_table(page)
        if tab != "leaderboard":
            page.get_by_role("tab", name=TABS[tab]).click()
        page.wait_for_load_state("networkidle")
        time.sleep(1.0)  # let the plot and the table's column widths settle
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=full_page)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m space.screenshot", description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="reports/cpu/leaderboard")
    ap.add_argument("--out", default="reports/space_leaderboard.png")
    ap.add_argument("--tab", choices=sorted(TABS), default="leaderboard")
    ap.add_argument("--width", type=int, default=1680)
    ap.add_argument("--height", type=int, default=1000)
    args = ap.parse_args(argv)
    path = take(args.results, Path(args.out), args.tab, args.width, args.height)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The documentation: every relative link resolves, and the README's answers are the report's numbers.

Covers README.md and every page in docs/; a link to a missing file or heading fails the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def show(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def anchors(md: Path) -> set[str]:
    """GitHub's heading ids: lowercased, punctuation dropped (link markup kept as its text), spaces to '-'."""
    seen: dict[str, int] = {}
    out = set()
    for title in HEADING.findall(FENCE.sub("", md.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(md: Path) -> list[tuple[str, str]]:
    """(link, why) for each relative link in `md` whose file or heading does not exist; code is skipped."""
    text = CODE_SPAN.sub("", FENCE.sub("", md.read_text(encoding="utf-8")))
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...: not ours to check
            continue
        path, _, fragment = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            out.append((target, f"no such file: {show(dest)}"))
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            out.append((target, f"no heading #{fragment} in {show(dest)}"))
    return out


def test_checker_finds_what_is_broken(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## The `x` part, again!\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    md = tmp_path / "page.md"
    md.write_text(
        "# Page\n"
        "[ok](other.md) [ok anchor](other.md#the-x-part-again) [ok dir](sub) [self](#page)\n"
        "![missing image](img.png) [bad anchor](other.md#nope) [web](https://example.org/x.md)\n"
        "`[in code](nowhere.md)`\n```\n[in a fence](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert [link for link, _ in broken_links(md)] == ["img.png", "other.md#nope"]


def test_anchors_follow_github():
    md = ROOT / "docs" / "tokenizers.md"
    assert {"the-input-policy", "special-tokens-written-in-the-text", "without-this-package"} <= anchors(md)


def test_links_resolve():
    broken = [f"{show(md)}: ({link}) {why}" for md in doc_files() for link, why in broken_links(md)]
    assert not broken, "broken links; fix the link or the file it points to:\n" + "\n".join(broken)


# ------------------------------------------------------------------ the README's answers vs summary.json


def readme_rows() -> list[list[str]]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## The answers at CPU scale")[1]
    section = section.split("\n## ")[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def sig2(x: float) -> str:
    """A p-value as the README writes it: two significant digits, 1 for 1."""
    return "1" if x == 1 else f"{x:#.2g}".rstrip(".")


def test_readme_answers_match_summary():
    summary = json.loads((ROOT / "reports/cpu/summary.json").read_text(encoding="utf-8"))
    by_pair = {(c["a"], c["b"]): c for c in summary["comparisons"]}
    pairs_checked = set()
    for question, comparison, difference, wins, verdict, scale in readme_rows():
        arms = re.findall(r"`([^`*]+)`", comparison)
        if len(arms) != 2:
            continue
        c = by_pair[tuple(arms)]
        w = c["wilcoxon"]
        assert question.split()[1] == c["question"], comparison
        assert difference == f"{c['difference']:+.1f}", comparison
        assert wins == f"{w['wins']}/{w['n_used']}", comparison
        assert verdict.endswith(f"({sig2(c['p_holm'])})"), comparison
        expected = (
            "cannot decide" if not w["can_decide"] else "not significant" if c["p_holm"] >= 0.05 else "significant"
        )
        assert verdict.startswith(expected), comparison
        side = "first" if c["cost"]["added_by"] == c["a"] else "second"
        assert scale == f"{side} +{c['cost']['added_flops']:.1e} FLOPs".replace("e+", "e"), comparison
        pairs_checked.add(tuple(arms))

    corpus = [c for c in summary["comparisons"] if c["question"] == "corpus"]
    row = next(r for r in readme_rows() if r[0] == "corpus")
    assert row[2] == ", ".join(f"{c['difference']:.1f}" for c in corpus)
    assert row[3] == ", ".join(str(c["wilcoxon"]["wins"]) for c in corpus) + " /10"
    assert row[4] == "not significant (" + ", ".join(sig2(c["p_holm"]) for c in corpus) + ")"
    assert all(c["wilcoxon"]["n_used"] == 10 for c in corpus)
    assert pairs_checked | {(c["a"], c["b"]) for c in corpus} == set(by_pair), "a declared comparison is missing"

    points = [p for curve in summary["compute_curves"].values() for p in curve["points"] if p["pretraining_steps"]]
    row = next(r for r in readme_rows() if "128 / 256 / 512 steps" in r[1])
    assert max(abs(p["gain"]) for p in points) < float(re.search(r"within ([\d.]+)", row[2]).group(1))
    flops = sorted(p["pretraining_flops"] for p in points)
    assert row[5] == f"{flops[0]:.1e} to {flops[-1]:.1e} FLOPs".replace("e+", "e")


def test_grid_figures_match_summary():
    def text(path):
        return " ".join((ROOT / path).read_text(encoding="utf-8").split())  # lines joined

    summary = json.loads((ROOT / "reports/cpu/summary.json").read_text(encoding="utf-8"))
    runs = summary["n_finetune_runs"] + summary["n_pretrain_runs"]
    hours = summary["grid_wall_time"]["seconds"] / 3600
    assert f"{runs} runs, {hours:.2f} h on 2 CPU cores" in text("README.md")
    assert f"over the {summary['family_size']} declared comparisons" in text("README.md")
    one_class = sum(arm["one_class"] for arm in summary["one_class_all_runs"].values())
    assert f"{summary['n_one_class_runs']} of the {summary['n_scored_runs']} scored runs" in text("docs/assessment.md")
    assert f"{one_class} of {summary['n_finetune_runs']} do" in text("docs/assessment.md")


def test_index_lists_every_page():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    missing = sorted(name for name in pages if f"]({name})" not in index)
    assert not missing, f"docs/README.md does not list: {', '.join(missing)}"

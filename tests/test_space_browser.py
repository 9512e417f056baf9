"""The leaderboard Space in headless Chromium: `python -m space.app` serves the committed CPU results on
127.0.0.1 (a free port, in a subprocess, stopped after), and Playwright drives Debian's chromium
(`executable_path=`, so Playwright downloads no browser).

Needs `pip install -e ".[space]" playwright` and `apt-get install chromium` (.ci/run installs them). Locally a
missing piece skips these tests, saying which; in CI (CI=true) it fails them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the committed CPU results; DNALM_SPACE_RESULTS points the tests at another leaderboard folder
CPU = Path(os.environ.get("DNALM_SPACE_RESULTS") or ROOT / "reports" / "cpu" / "leaderboard")
# every test here drives a real chromium: seconds each
pytestmark = pytest.mark.slow
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
TIMEOUT_MS = 30_000


def _missing() -> str | None:
    try:
        import gradio  # noqa: F401
    except ImportError:
        return 'gradio is not installed (pip install -e ".[space]")'
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    from space.browser import find_chromium

    if find_chromium() is None:
        return "no chromium (apt-get install -y chromium, or set DNALM_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if IN_CI:
            pytest.fail(f"CI: the Space's browser tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    from space.browser import chromium_browser

    with chromium_browser() as b:
        yield b


def _expected() -> dict:
    """What the table must show, read from the files here (not through space/): the arms of the results files,
    a sweep's members grouped under their arm where the report's summary.json chose one per task, each cell's
    scores (the chosen member's), and the published models of report.md."""
    files = sorted((CPU / "results").rglob("*.json"))
    if not files:
        pytest.skip(f"no committed leaderboard files under {CPU}")
    summary = next(
        (json.loads((w / "summary.json").read_text()) for w in (CPU, CPU.parent) if (w / "summary.json").is_file()), {}
    )
    member_of, chosen = {}, {}
    for arm, by_task in (summary.get("cells") or {}).items():
        for task, entry in by_task.items():
            sel = (entry or {}).get("selected") or {}
            if sel.get("member"):
                chosen[(arm, task)] = sel["member"]
                for c in [sel, *sel.get("candidates", [])]:
                    member_of[c["member"]] = arm
    arms, scores = {}, {}
    for p in files:
        d = json.loads(p.read_text())
        name = d["config"]["model_name"].removeprefix("dnalm-assess/")
        arm = member_of.get(name, name)
        arms[arm] = d["config"]["model_arch"]
        for task, m in d["results"].items():
            if chosen.get((arm, task), name) == name:
                scores.setdefault((arm, task), []).append(100 * m["mcc"])
    refs = []
    for where in (CPU, CPU.parent):
        report = where / "report.md"
        if report.is_file():
            header = [ln for ln in report.read_text().splitlines() if ln.startswith("| task | best arm here")]
            refs = [c.strip() for c in header[0].strip("|").split("|")][2:] if header else []
            break
    return {"arms": arms, "refs": refs, "scores": scores}


@pytest.fixture(scope="module")
def app_url(browser):
    from space.browser import running_app

    with running_app(CPU) as url:
        yield url


@pytest.fixture()
def page(browser, app_url):
    from space.browser import wait_for_table

    ctx = browser.new_context(viewport={"width": 1680, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(app_url)
    wait_for_table(pg)
    yield pg
    ctx.close()


def _number(text: str) -> float | None:
    """A cell's leading number (None when it shows none: "did not learn", "–")."""
    m = re.match(r"^\s*(-?\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


def _all_seed_means() -> dict:
    """(arm, task) -> mean score x 100 over all the cell's seeds, from the files: what a cell that did not learn
    sorts by."""
    return {k: sum(v) / len(v) for k, v in _expected()["scores"].items()}


def test_table_renders_the_committed_results(page):
    from space.browser import column_texts, headers, row_count

    want = _expected()
    n = len(want["arms"]) + len(want["refs"])
    assert row_count(page) == n
    cols = headers(page)
    assert cols[:6] == ["arm", "source", "model", "regime", "tokenizer", "mode"] and cols[-2:] == ["mean", "seeds"]
    names = column_texts(page, 0)
    sources = column_texts(page, 1)
    assert len(names) == n  # every row is rendered, not only counted
    assert sorted(a for a, s in zip(names, sources) if s == "grid") == sorted(want["arms"])
    assert sorted(a for a, s in zip(names, sources) if s == "published") == sorted(
        f"{m} (published)" for m in want["refs"]
    )
    # cells read "mean ± half-width" (or say why not)
    for col in range(6, len(cols) - 2):
        for text in column_texts(page, col):
            assert re.fullmatch(
                r"-?\d+\.\d\d( ± \d+\.\d\d)?( \(n=\d+(, no CI)?\))?|did not learn \(\d+/\d+\)|–", text
            ), text
    # the published rows can be hidden
    page.locator("#show-refs input[type=checkbox]").uncheck()
    page.wait_for_function(
        "() => document.querySelector('#leaderboard [role=grid]').getAttribute('aria-rowcount') "
        f"== {len(want['arms']) + 1}"
    )
    assert row_count(page) == len(want["arms"])


def test_sorting_by_clicking_a_column_header(page):
    from space.browser import column_texts, headers, sort_column

    cols = headers(page)
    means = _all_seed_means()

    def keys(col):
        """Each row's sort key from what it shows; a cell that did not learn: its all-seed mean (files)."""
        out = []
        for arm, text in zip(column_texts(page, 0), column_texts(page, col)):
            v = _number(text)
            if v is None and text == "–":
                v = -1000.0  # no runs (or no published number): sorts last
            elif v is None and cols[col] == "mean":
                v = sum(means[(arm, t)] for t in cols[6:-2]) / len(cols[6:-2])
            out.append(v if v is not None else means[(arm, cols[col])])
        return out

    mean = cols.index("mean")
    sort_column(page, mean, "ascending")  # waits for the header's "Sorted ascending" indicator
    assert keys(mean) == sorted(keys(mean))
    sort_column(page, mean, "descending")
    assert keys(mean) == sorted(keys(mean), reverse=True)
    # a task column (cells that did not learn among them)
    for task in range(6, len(cols) - 2):
        sort_column(page, task, "descending")
        assert keys(task) == sorted(keys(task), reverse=True), cols[task]
    sort_column(page, 6, "ascending")
    assert keys(6) == sorted(keys(6))
    # the arm names, as text (the table's alphanumeric order: case-insensitive, digit runs as numbers)
    sort_column(page, 0, "ascending")
    names = column_texts(page, 0)
    natural = lambda s: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s.lower())]  # noqa: E731
    assert names == sorted(names, key=natural), names


def test_filters_by_architecture_and_task_group(page):
    from dnalm_core.registry import TASKS
    from space.browser import column_texts, headers, row_count

    want = _expected()
    arch = sorted(set(want["arms"].values()))[-1]
    n_arch = sum(1 for m in want["arms"].values() if m == arch)
    before = row_count(page)
    page.locator("#filter-arch label", has_text=arch).click()
    page.wait_for_function(
        "() => document.querySelector('#leaderboard [role=grid]').getAttribute('aria-rowcount') "
        f"== {before - n_arch + 1}"
    )
    assert row_count(page) == before - n_arch
    models = column_texts(page, 2)
    assert set(models) - {"-"} == {m for m in want["arms"].values() if m != arch}, models  # "-": published rows
    groups = page.locator("#filter-group label").all_inner_texts()
    tasks = headers(page)[6:-2]
    n_tasks = len(tasks)
    group = groups[0].strip()
    page.locator("#filter-group label", has_text=group).click()
    page.wait_for_function(f"() => document.querySelectorAll('#leaderboard thead th').length < {n_tasks + 8}")
    # the unticked group's tasks are gone, every other task is still a column
    assert headers(page)[6:-2] == [t for t in tasks if TASKS.get(t).group != group]


def test_other_views_render(page):
    page.get_by_role("tab", name="Architecture x regime").click()
    page.wait_for_selector("#regime-view .virtual-row")
    assert int(page.get_attribute("#regime-view [role=grid]", "aria-rowcount")) > 1
    page.get_by_role("tab", name="Score vs compute").click()
    page.wait_for_selector("#compute-plot canvas, #compute-plot svg")
    page.get_by_role("radio", name="fine-tuning FLOPs only").check()
    page.wait_for_function("() => !document.querySelector('#compute-note').innerText.includes('Not plotted')")


# ------------------------------------------------------------------------------------------ submissions


@pytest.fixture(scope="module")
def fresh_url(browser):
    """A second server for the upload tests, so that they never change what the other tests see."""
    from space.browser import running_app

    with running_app(CPU) as url:
        yield url


def _upload_and_wait(page, path: Path) -> str:
    from space.browser import upload

    return upload(page, path)


def test_submissions_valid_appears_malformed_explained(browser, fresh_url, tmp_path):
    from space.browser import column_texts, row_count, wait_for_table

    want = _expected()
    ctx = browser.new_context(viewport={"width": 1680, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(fresh_url)
        wait_for_table(page)
        before = row_count(page)
        assert before == len(want["arms"]) + len(want["refs"])
        source = sorted((CPU / "results").rglob("*.json"))[0]
        d = json.loads(source.read_text())
        task = next(iter(d["results"]))

        # malformed: MCC out of range -> refused, the field named, nothing added
        bad = json.loads(json.dumps(d))
        bad["config"]["model_name"] = "tester/bad-arm"
        bad["results"][task]["mcc"] = 1.7
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        msg = _upload_and_wait(page, tmp_path / "bad.json")
        assert "Refused" in msg and f"results.{task}.mcc" in msg and "outside [-1, 1]" in msg, msg
        # malformed: not JSON
        (tmp_path / "broken.json").write_text("{ this is not json")
        msg = _upload_and_wait(page, tmp_path / "broken.json")
        assert "Refused" in msg and "file" in msg and "not valid JSON" in msg, msg
        # a duplicate of a committed run
        msg = _upload_and_wait(page, source)
        assert "Refused" in msg and "config.seed" in msg and "duplicate run" in msg, msg

        # valid: a new arm -> one more row, marked submitted, with its score
        good = json.loads(json.dumps(d))
        good["config"]["model_name"] = "tester/convnova-variant"
        good["results"][task].update(mcc=0.4321)
        (tmp_path / "good.json").write_text(json.dumps(good))
        msg = _upload_and_wait(page, tmp_path / "good.json")
        assert "Added" in msg and "tester/convnova-variant" in msg and "43.21" in msg, msg
        page.get_by_role("tab", name="Leaderboard").click()
        page.wait_for_function(
            f"() => document.querySelector('#leaderboard [role=grid]').getAttribute('aria-rowcount') == {before + 2}"
        )
        assert row_count(page) == before + 1
        page.wait_for_function(
            "() => document.querySelector('#leaderboard').innerText.includes('tester/convnova-variant')"
        )
        names, sources = column_texts(page, 0), column_texts(page, 1)
        assert sources[names.index("tester/convnova-variant")] == "submitted"
        col = [h.strip() for h in page.locator("#leaderboard thead th").all_inner_texts()].index(task)
        assert column_texts(page, col)[names.index("tester/convnova-variant")] == "43.21 (n=1, no CI)"
        # another visitor sees it too
        other = ctx.new_page()
        other.goto(fresh_url)
        wait_for_table(other)
        other.wait_for_function(
            f"() => document.querySelector('#leaderboard [role=grid]').getAttribute('aria-rowcount') == {before + 2}"
        )
    finally:
        ctx.close()


IMG_NAME = "![x](http://tracker.invalid/track.png)"
TICK_NAME = "a` <img src=http://tracker.invalid/tick.png> `b"
MARKUP_NAME = "tester/a _b_ (c)"  # valid under the name rule, Markdown emphasis if it were rendered as Markdown


@pytest.mark.slow
def test_submitted_names_are_shown_as_text_and_fetch_nothing(browser, fresh_url, tmp_path):
    """A Markdown image or a backtick break-out as an arm name is refused, and the refusal shows it as literal text
    without the browser requesting its URL; accepted arm, model and corpus names with Markdown emphasis show
    literally in the message, the table, the filters and the note under the compute plot."""
    from space.browser import column_texts, wait_for_table

    ctx = browser.new_context(viewport={"width": 1680, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested = []
    page.on("request", lambda req: requested.append(req.url))
    try:
        page.goto(fresh_url)
        wait_for_table(page)
        d = json.loads(min((CPU / "results").rglob("*.json")).read_text())
        task = next(iter(d["results"]))
        for i, name in enumerate((IMG_NAME, TICK_NAME, "$$x^2$$")):
            bad = json.loads(json.dumps(d))
            bad["config"]["model_name"] = name
            bad["results"][task]["mcc"] = 0.2345 + i / 100  # otherwise valid: not a duplicate of the source run
            (tmp_path / f"evil{i}.json").write_text(json.dumps(bad))
            msg = _upload_and_wait(page, tmp_path / f"evil{i}.json")
            assert "Refused" in msg and "config.model_name" in msg and name in msg, msg
            assert page.locator("#submit-msg img, #submit-msg .katex").count() == 0  # no image, no rendered LaTeX
        good = json.loads(json.dumps(d))
        good["config"].update(model_name=MARKUP_NAME, init="pretrained", model_arch="conv _x_", corpus="corp _y_")
        good["cost"] = {"flops": 1e12}  # no pretraining FLOPs: the arm is named in the note under the plot
        good["results"][task]["mcc"] = 0.1234
        (tmp_path / "markup.json").write_text(json.dumps(good))
        msg = _upload_and_wait(page, tmp_path / "markup.json")
        assert "Added" in msg and MARKUP_NAME in msg, msg
        page.get_by_role("tab", name="Leaderboard").click()
        page.wait_for_function(f"() => document.querySelector('#leaderboard').innerText.includes({MARKUP_NAME!r})")
        assert MARKUP_NAME in column_texts(page, 0)
        # model and corpus names in the filters and the table, as text
        assert "conv _x_" in [t.strip() for t in page.locator("#filter-arch label").all_inner_texts()]
        assert "pretrained: corp _y_" in [t.strip() for t in page.locator("#filter-regime label").all_inner_texts()]
        row = column_texts(page, 0).index(MARKUP_NAME)
        assert (column_texts(page, 2)[row], column_texts(page, 3)[row]) == ("conv _x_", "pretrained: corp _y_")
        page.get_by_role("tab", name="Score vs compute").click()
        page.wait_for_function(f"() => document.querySelector('#compute-note').innerText.includes({MARKUP_NAME!r})")
        # the note's own emphasis only: none made of the name's _b_
        assert page.locator("#compute-note em").all_inner_texts() == ["fine-tuning FLOPs only"]
        page.wait_for_load_state("networkidle")
    finally:
        ctx.close()
    assert not [u for u in requested if "tracker.invalid" in u], requested

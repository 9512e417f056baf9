"""The leaderboard Space: a Gradio app over a leaderboard folder.

    python -m space.app --results reports/cpu/leaderboard            # http://127.0.0.1:7860
    python -m space.app --results owner/leaderboard-dataset          # a Hub dataset repo (online only)

Tabs: the leaderboard (one row per arm, one column per task plus the mean; cells mean ± 95% CI half-width
over seeds; published reference scores as marked rows; sortable from each column's menu, filterable by
architecture, pretraining regime and task group), the report's architecture x regime view, score against
training compute (interactive), and a submission form that validates an uploaded results file
(space/submission.py) and adds it or says which field is wrong.

gradio is imported only inside `build_app` / `serve`, so `import space.app` costs nothing and
`--check` / the folder errors work without it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

if __name__ == "__main__" and __package__ in (None, ""):  # `python space/app.py`: run as the package module
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from space.app import main

    raise SystemExit(main())

from .board import CELL_METHOD, MEAN_METHOD, Board, SourceError, fmt_flops, resolve_source
from .safety import NAME_RULE, escape
from .submission import MAX_BYTES, MAX_DEPTH, MAX_INT_DIGITS, MAX_SEED, SubmissionError

TITLE = "DNA language model leaderboard (dnalm-assess)"
DEFAULT_PORT = 7860
X_TOTAL = "pretraining + fine-tuning FLOPs"
X_FINETUNE = "fine-tuning FLOPs only"
LOADED = '<span id="board-loaded"></span>'
PLOT_COLUMNS = ["log10 FLOPs", "mean score", "architecture", "arm", "regime", "FLOPs", "score ± CI", "tasks"]
CSS = """
#leaderboard .virtual-row, #regime-view .virtual-row, #leaderboard th, #regime-view th {
  font-family: var(--font) !important; font-variant-numeric: tabular-nums; }
.published-note { font-size: 0.9em; }
"""


def _quiet_gradio_env() -> None:
    """No analytics or update checks: the Space works offline and says nothing about its users."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_DO_NOT_TRACK", "True")  # hf-gradio's telemetry switch


# ------------------------------------------------------------------------------------------ text blocks


def header_markdown(board: Board) -> str:
    d = board.describe()
    benches = "; ".join(
        f"{escape((e or {}).get('name') or b)} ({len((e or {}).get('tasks') or [])} tasks)"
        for b, e in d["benchmarks"].items()
    )
    sub = f" ({d['submitted']} submitted here)" if d["submitted"] else ""
    return (
        f"# {TITLE}\n\nLeaderboard folder <code>{escape(d['label'])}</code>: **{d['runs']} runs{sub}, "
        f"{d['arms']} arms, "
        f"{d['tasks']} tasks**" + (f"; benchmarks: {benches}" if benches else "") + "."
    )


def methods_markdown(board: Board) -> str:
    d = board.describe()
    cells = d["cells"]
    origin = ", ".join(
        f"{n} from {'the report' + chr(39) + 's summary.json' if s == 'summary.json' else 'the per-run files'}"
        for s, n in sorted(cells.items())
    )
    refs = d["references"]
    ref_text = (
        f" Published rows (yellow, italic) are reference scores from {escape(refs['source'])}: single "
        "published "
        "numbers at those models' own scale and training sets, shown for scale, not as a comparison."
        if refs
        else ""
    )
    return (
        f"**Cells**: the task's primary test metric x 100 (MCC for GUE), mean over seeds ± the half-width of "
        f"the {CELL_METHOD}. `(n=k)`: k seeds counted, the others predicted a single class; a cell with more "
        f"than {d['max_one_class']} such seed{'s' * (d['max_one_class'] != 1)} *did not learn (one-class seeds/"
        f"seeds)* and is left out of the mean. **mean**: {MEAN_METHOD}; "
        "`(k/n tasks)` when it covers fewer tasks than shown. "
        f"Cell numbers: {origin or 'none yet'}.{ref_text} "
        "**Sort**: open a column's menu (⋮ on its header) and pick *Sort ascending* or *Sort descending*; "
        "sorting uses the numbers, not the text: a cell that did not learn sorts by its mean over all seeds "
        "(MCC 0 for a one-class prediction), an empty cell sorts last; a second column sorted without "
        "*Clear sort* first is a tie-breaker of the first. "
        "Green rows were submitted here. Regime *pretrained* without a corpus: the results file does not name "
        "the pretraining corpus."
        + (
            f" **Sweeps**: {d['swept_arms']} arm{'s' * (d['swept_arms'] != 1)} swept a setting "
            f"({d['members']} members); per task the member the "
            "report chose on validation (summary.json) stands for the arm, as in the report; the values chosen are "
            "under the table, and *Show every sweep member as a row* shows each member's own runs."
            if d["members"]
            else ""
        )
    )


SUBMIT_HELP = (
    """Upload **one run** (one arm, one seed) as JSON, in either format:

- the per-run results file that `python -m assess.leaderboard <grid.yaml> --out DIR` writes
  (`DIR/results/<arm>/<task>__seed<k>.json`: `config` with `model_name`, `model_arch`, `init`, `tokenizer`,
  `mode`, `seed`, and `results: {task: {metric: value}}`);
- the run record that `train.py` writes (`<output_dir>/results.json`).

Checks, in order; a refusal names the field and the rule: a JSON object of at most MAX_BYTES bytes, nested at most
MAX_DEPTH deep, integers of at most MAX_INT_DIGITS digits; the fields above, with `init` in random/pretrained, `mode`
in full/lora/probe and `seed` a whole number from 0 to MAX_SEED; names (arm, model, corpus) follow the name rule
below; every task registered in the suite (`dnalm_core.registry.TASKS`);
the task's primary metric present; every metric a finite number in its range (MCC, Pearson, Spearman in [-1, 1];
accuracy, F1, precision, recall, AUROC in [0, 1]; loss >= 0); for a run record, `stage: finetune` and the task's
registered `primary_metric`; no duplicate (same arm, task and seed, or the same test metrics, within 1e-9, as a run
already shown); an arm name already shown must have the same model, init, tokenizer and mode (and a swept
arm takes new runs under one of its members' names). An accepted run is saved, then joins its arm (or a new arm)
and every view is recomputed.

**Names**: """
    + NAME_RULE
    + """. Names are normalised to Unicode NFKC first (full-width letters become plain
ones); control, bidi and zero-width characters are refused, so no two names look alike."""
)
for _name, _limit in (
    ("MAX_BYTES", MAX_BYTES),
    ("MAX_DEPTH", MAX_DEPTH),
    ("MAX_INT_DIGITS", MAX_INT_DIGITS),
    ("MAX_SEED", MAX_SEED),
):  # the numbers the checks use
    SUBMIT_HELP = SUBMIT_HELP.replace(_name, f"{_limit:,}")


# ---------------------------------------------------------------------------------------------- the app


COLUMN_PX = {
    "arm": 175,
    "source": 90,
    "model": 85,
    "regime": 105,
    "tokenizer": 95,
    "mode": 60,
    "mean": 200,
    "seeds": 70,
}


def widths(headers: list[str]) -> list[str]:
    """Pixel widths of the leaderboard's columns (a task column fits its name, at least 170 px): the arm
    columns take ~700 px, so four tasks fit a 1600 px window."""
    return [f"{COLUMN_PX.get(h, max(170, 9 * len(h) + 30))}px" for h in headers]


def _filters(board: Board, archs, regimes, groups):
    """Checkbox values -> Board filters (None: everything, which also covers choices added since)."""
    full = (set(board.architectures()), set(board.regimes()), set(board.groups()))
    return tuple(None if v is None or set(v) >= f else list(v) for v, f in zip((archs, regimes, groups), full))


def plot_frame(board: Board, archs, regimes, groups, x_axis: str):
    import pandas as pd

    rows, missing = [], []
    for p in board.compute_points(*_filters(board, archs, regimes, groups)):
        x = p["total_flops"] if x_axis == X_TOTAL else p["finetune_flops"]
        if not x:
            missing.append(p["arm"])
            continue
        ci = f"{p['mean']:.2f}" + (f" ± {p['half']:.2f}" if p["half"] is not None else "")
        rows.append(
            [math.log10(x), round(p["mean"], 4), p["architecture"], p["arm"], p["regime"], fmt_flops(x), ci, p["tasks"]]
        )
    note = (
        f"x: log10 of the training FLOPs per fine-tuned model ({x_axis}); y: mean test score over the shown "
        "tasks where the arm learned (x 100), with its 95% CI in the tooltip. Colour: architecture (model and "
        "tokens). Hover a point for its arm, regime, FLOPs and CI."
    )
    if missing:
        note += (
            f"\n\nNot plotted ({len(missing)}): {', '.join(escape(m) for m in missing)}: pretraining FLOPs "
            "are not in the leaderboard "
            "files (they come from the report's summary.json, or `cost.pretraining_flops` in a results file); "
            f"switch to *{X_FINETUNE}* to see them."
        )
    return pd.DataFrame(rows, columns=PLOT_COLUMNS), note


def _code(text) -> str:
    """User text in monospace, shown literally (a Markdown code span would show the escapes themselves)."""
    return f"<code>{escape(text)}</code>"


def submit_message(board: Board, raw: bytes, name: str) -> str:
    """Add an uploaded file to the board; the Markdown verdict, every piece of user text escaped."""
    try:
        runs = board.add(raw, origin=name)
    except SubmissionError as err:
        return f"### ❌ Refused\n{_code(name)}: field {_code(err.field)}: {escape(err.reason)}"
    r = runs[0]
    cell = board.cell(r.arm, r.task)
    tasks = ", ".join(x.task for x in runs)
    n = len(cell.scores)
    return (
        f"### ✅ Added\n{_code(name)}: arm {_code(r.arm)} ({escape(r.model)}, {escape(r.regime)}, "
        f"{escape(r.tokens)}, {escape(r.mode)}), seed {r.seed}, {escape(tasks)}: {escape(r.metric)} x 100 = "
        f"{r.score:.2f}. The {escape(r.task)} cell is now {escape(cell.text())} over {n} seed{'s' * (n != 1)}; "
        f"the table has {len(board.arms())} arms."
    )


def build_app(board: Board):
    """The gr.Blocks app over `board` (not launched)."""
    _quiet_gradio_env()
    import gradio as gr

    def table_update(archs, regimes, groups, refs, members):
        t = board.table(*_filters(board, archs, regimes, groups), show_references=bool(refs), members=bool(members))
        return gr.Dataframe(value=t.value(), datatype=t.datatypes, headers=t.headers, column_widths=widths(t.headers))

    def selection_update(archs, regimes, groups):
        t = board.selection_table(*_filters(board, archs, regimes, groups))
        return gr.Dataframe(value=t.value(), datatype=t.datatypes, headers=t.headers)

    def regime_update(archs, regimes, groups):
        t = board.regime_view(*_filters(board, archs, regimes, groups))
        return gr.Dataframe(value=t.value(), datatype=t.datatypes, headers=t.headers)

    def views(archs, regimes, groups, refs, members, x_axis):
        frame, note = plot_frame(board, archs, regimes, groups, x_axis)
        return (
            table_update(archs, regimes, groups, refs, members),
            regime_update(archs, regimes, groups),
            frame,
            note,
            methods_markdown(board),
            selection_update(archs, regimes, groups),
        )

    def filter_choices(archs=None, regimes=None, groups=None):
        """Checkbox groups with the board's current choices; values keep the user's picks plus new choices."""
        out = []
        for now, prev, known in (
            (board.architectures(), archs, FILTER_STATE["archs"]),
            (board.regimes(), regimes, FILTER_STATE["regimes"]),
            (list(board.groups()), groups, FILTER_STATE["groups"]),
        ):
            value = now if prev is None else [c for c in now if c in prev or c not in known]
            out.append(gr.CheckboxGroup(choices=now, value=value))
        FILTER_STATE.update(archs=set(board.architectures()), regimes=set(board.regimes()), groups=set(board.groups()))
        return out

    FILTER_STATE = {"archs": set(board.architectures()), "regimes": set(board.regimes()), "groups": set(board.groups())}

    first = board.table()
    first_regime = board.regime_view()
    first_plot, first_note = plot_frame(board, None, None, None, X_TOTAL)

    with gr.Blocks(title=TITLE, fill_width=True) as demo:
        header = gr.Markdown(header_markdown(board), elem_id="header", latex_delimiters=[])
        with gr.Row():
            f_arch = gr.CheckboxGroup(
                board.architectures(), value=board.architectures(), label="Architecture", elem_id="filter-arch"
            )
            f_regime = gr.CheckboxGroup(
                board.regimes(), value=board.regimes(), label="Pretraining regime", elem_id="filter-regime"
            )
            f_group = gr.CheckboxGroup(
                list(board.groups()), value=list(board.groups()), label="Task group", elem_id="filter-group"
            )
            with gr.Column(min_width=220):
                f_refs = gr.Checkbox(value=True, label="Show published reference scores", elem_id="show-refs")
                f_members = gr.Checkbox(
                    value=False,
                    label="Show every sweep member as a row",
                    elem_id="show-members",
                    visible=bool(board.member_of),
                )
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="tab-leaderboard"):
                table = gr.Dataframe(
                    value=first.value(),
                    headers=first.headers,
                    datatype=first.datatypes,
                    column_widths=widths(first.headers),
                    interactive=False,
                    wrap=True,
                    max_height=3000,
                    elem_id="leaderboard",
                    label="Arms x tasks: mean ± 95% CI half-width over seeds (x 100)",
                    show_label=True,
                    buttons=["copy", "fullscreen"],
                )
                methods = gr.Markdown(methods_markdown(board), elem_id="methods", latex_delimiters=[])
                first_sel = board.selection_table()
                with gr.Accordion(
                    "Values chosen on validation (swept arms)", open=False, visible=bool(board.member_of)
                ):
                    selection = gr.Dataframe(
                        value=first_sel.value(),
                        headers=first_sel.headers,
                        datatype=first_sel.datatypes,
                        interactive=False,
                        elem_id="selection",
                        show_label=False,
                    )
            with gr.Tab("Architecture x regime", id="tab-regime"):
                gr.Markdown(
                    "The report's view: per task group and architecture (model plus tokens), the mean test "
                    "score over the group's tasks for each pretraining regime, ± the 95% CI half-width "
                    f"({MEAN_METHOD}). Several arms in one cell are listed by name."
                )
                regime_table = gr.Dataframe(
                    value=first_regime.value(),
                    headers=first_regime.headers,
                    datatype=first_regime.datatypes,
                    interactive=False,
                    wrap=True,
                    max_height=1400,
                    elem_id="regime-view",
                    show_label=False,
                )
            with gr.Tab("Score vs compute", id="tab-compute"):
                x_axis = gr.Radio([X_TOTAL, X_FINETUNE], value=X_TOTAL, label="x axis", elem_id="x-axis")
                plot = gr.ScatterPlot(
                    first_plot,
                    x="log10 FLOPs",
                    y="mean score",
                    color="architecture",
                    tooltip=["arm", "regime", "FLOPs", "score ± CI", "tasks"],
                    x_title="log10 training FLOPs per fine-tuned model",
                    y_title="mean test score (x 100)",
                    height=520,
                    elem_id="compute-plot",
                    title="Score against compute, by architecture",
                )
                plot_note = gr.Markdown(first_note, elem_id="compute-note", latex_delimiters=[])
            with gr.Tab("Submit a run", id="tab-submit"):
                gr.Markdown(SUBMIT_HELP)
                upload = gr.File(
                    label="Results file (.json)", file_types=[".json"], type="filepath", elem_id="submit-file"
                )
                message = gr.Markdown("", elem_id="submit-msg", latex_delimiters=[])

        inputs = [f_arch, f_regime, f_group, f_refs, f_members, x_axis]
        outputs = [table, regime_table, plot, plot_note, methods, selection]
        for comp in inputs:
            comp.change(views, inputs, outputs, show_progress="hidden")

        def on_upload(path, archs, regimes, groups, refs, members, x):
            if not path:
                return (
                    "",
                    *views(archs, regimes, groups, refs, members, x),
                    header_markdown(board),
                    *filter_choices(archs, regimes, groups),
                )
            raw = Path(path).read_bytes()
            name = Path(path).name  # the uploader's file name: user text, like everything in the file
            return (
                submit_message(board, raw, name),
                *views(archs, regimes, groups, refs, members, x),
                header_markdown(board),
                *filter_choices(archs, regimes, groups),
            )

        upload.upload(on_upload, [upload, *inputs], [message, *outputs, header, f_arch, f_regime, f_group])
        upload.clear(lambda: "", None, message)

        # Each visit reloads the board's current state (submissions since the app started, new filter choices);
        # the marker tells a browser test that this first update has landed.
        loaded = gr.HTML("", elem_id="load-marker", padding=False)

        def on_load(archs, regimes, groups, refs, members, x):
            return (
                *views(archs, regimes, groups, refs, members, x),
                header_markdown(board),
                *filter_choices(archs, regimes, groups),
                LOADED,
            )

        demo.load(on_load, inputs, [*outputs, header, f_arch, f_regime, f_group, loaded])
    return demo


def theme():
    """The default theme with the machine's own fonts: nothing is fetched from a font CDN (works offline)."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def serve(board: Board, host: str = "127.0.0.1", port: int = DEFAULT_PORT, block: bool = True):
    """Launch the app; with block=False return (demo, url) with the server running in a thread."""
    demo = build_app(board)
    demo.queue(default_concurrency_limit=4)
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        ssr_mode=False,
        quiet=not block,
        show_error=True,
        css=CSS,
        footer_links=[],
        theme=theme(),
        max_file_size=MAX_BYTES,
    )
    return demo, url


def default_results() -> str | None:
    """$DNALM_LEADERBOARD, or a `leaderboard/` folder beside the app (a Space bundle ships one)."""
    if os.environ.get("DNALM_LEADERBOARD"):
        return os.environ["DNALM_LEADERBOARD"]
    for where in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1], Path.cwd()):
        if (where / "leaderboard").is_dir():
            return str(where / "leaderboard")
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m space.app", description="Serve the leaderboard Space locally.")
    ap.add_argument(
        "--results",
        default=default_results(),
        help="leaderboard folder (the --out of `python -m assess.leaderboard`, e.g. reports/cpu/leaderboard) "
        "or a Hub dataset repo id (online only); default $DNALM_LEADERBOARD or ./leaderboard",
    )
    ap.add_argument(
        "--spec",
        default=None,
        help="grid spec whose `references:` are the published rows "
        "(default: references.json/yaml, summary.json or report.md beside the folder)",
    )
    ap.add_argument(
        "--submissions",
        default=os.environ.get("DNALM_SUBMISSIONS"),
        help="folder where accepted submissions are written (and read back at start); default "
        "$DNALM_SUBMISSIONS, else kept in memory",
    )
    ap.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="interface to listen on (default 127.0.0.1, this machine only; 0.0.0.0 to serve others)",
    )
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", DEFAULT_PORT)))
    ap.add_argument("--check", action="store_true", help="load the folder, build the app, print a summary and exit")
    args = ap.parse_args(argv)
    if not args.results:
        ap.error("--results is required (no $DNALM_LEADERBOARD and no ./leaderboard folder)")
    try:
        folder = resolve_source(args.results)
        board = Board.from_folder(folder, spec=args.spec, label=args.results, submissions_dir=args.submissions)
    except (SourceError, OSError) as err:
        print(f"space: error: {err}", file=sys.stderr)
        return 2
    d = board.describe()
    print(
        f"space: {d['runs']} runs, {d['arms']} arms, {d['tasks']} tasks from {folder}; cells: {d['cells']}; "
        f"references: {len((d['references'] or {}).get('scores') or {})} models",
        flush=True,
    )
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('space: error: gradio is not installed; pip install -e ".[space]"', file=sys.stderr)
        return 2
    if args.check:
        build_app(board)
        print("space: app built", flush=True)
        return 0
    print(f"space: serving on http://{args.host}:{args.port}", flush=True)
    serve(board, args.host, args.port, block=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

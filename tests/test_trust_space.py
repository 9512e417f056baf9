"""The Space as a stranger may use it (issue 23, items 1-2): submitted text is shown as text and never as
Markdown or HTML, names follow one rule, every accepted submission is saved once under the results folder and
comes back after a restart, and every malformed file is refused with a SubmissionError that names the problem.

Rendering is checked against markdown-it-py, a CommonMark renderer independent of the Space's code: what the
app hands to gr.Markdown must render to the user's text and to no tag that fetches or links anything."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from space import board as boardmod
from space.app import X_TOTAL, plot_frame, submit_message
from space.board import Board
from space.safety import NAME_MAX, escape
from space.submission import MAX_SEED, Run, SubmissionError, parse_submission

IMG = "![x](http://tracker.invalid/track.png)"
TICK = "a` <img src=http://tracker.invalid/tick.png> `b"


def _results(arm: str, seed: int, mcc: float, *, model="convnova", task="gue/tf_2", init="random") -> dict:
    """A per-run results file as `python -m assess.leaderboard` writes it."""
    return {
        "config": {
            "model_name": f"dnalm-assess/{arm}",
            "model_arch": model,
            "init": init,
            "tokenizer": {"family": "char"},
            "mode": "full",
            "seed": seed,
        },
        "results": {task: {"mcc": mcc, "accuracy": 0.6 + mcc / 4, "loss": 0.5 - mcc / 10}},
    }


@pytest.fixture()
def folder(tmp_path) -> Path:
    """A leaderboard folder of one arm, three seeds on gue/tf_2."""
    lb = tmp_path / "lb"
    for seed, mcc in ((1, 0.31), (2, 0.33), (3, 0.29)):
        path = lb / "results" / "rnd" / f"gue__tf_2__seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_results("rnd", seed, mcc)))
    return lb


@pytest.fixture()
def board(folder) -> Board:
    return Board.from_folder(folder)


def submission(arm: str, seed: int = 1, mcc: float = 0.4321, **kw) -> str:
    d = _results(arm, seed, mcc, **kw)
    d["config"]["model_name"] = arm
    return json.dumps(d)


class _Text(HTMLParser):
    """The visible text of an HTML fragment and the tags in it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def rendered(markdown: str) -> _Text:
    parser = _Text()
    parser.feed(MarkdownIt("commonmark").render(markdown))
    return parser


def assert_literal(markdown: str, *texts: str):
    """`markdown` renders with each of `texts` in its visible text, and with no tag that loads or links."""
    out = rendered(markdown)
    visible = "".join(out.text)
    for text in texts:
        assert text in visible, (text, visible)
    bad = [t for t in out.tags if t[0] in ("img", "a", "script", "iframe", "object", "svg") or "src" in t[1]]
    assert not bad, bad


# ------------------------------------------------------------------------------------------ escaping


def test_escape_renders_every_ascii_character_literally():
    every = "".join(chr(c) for c in range(32, 127))
    for text in (
        every,
        IMG,
        TICK,
        "*a* _b_ **c** # h\n- item",
        "$$x^2$$ <b>&amp;</b> [l](javascript:alert(1))",
        "ärm örm 名前 ｆｕｌｌ",
    ):
        out = rendered(escape(text))
        assert "".join(out.text).strip() == text.strip(), text
        assert [t for t, _ in out.tags] == ["p"], (text, out.tags)


def test_note_under_the_compute_plot_shows_arm_names_as_text(folder):
    """A name that reached the board anyway (the rule refuses it at submission) is escaped in the note."""
    runs = boardmod.Board.from_folder(folder).snapshot()
    for arm in (IMG, TICK):
        runs.append(
            Run(
                arm=arm,
                model="convnova",
                init="pretrained",
                corpus=None,
                tokenizer={"family": "char"},
                mode="full",
                seed=1,
                task="gue/tf_2",
                metric="mcc",
                value=0.5,
                metrics={"mcc": 0.5},
                finetune_flops=1e12,
                pretrain_flops=None,
            )
        )
    _, note = plot_frame(Board(runs), None, None, None, X_TOTAL)  # pretraining FLOPs unknown: named in the note
    assert_literal(note, IMG, TICK)


def test_upload_messages_show_user_text_as_text(board):
    refused = submit_message(board, submission(IMG).encode(), f"{TICK}.json")
    assert "Refused" in refused
    assert_literal(refused, f"{TICK}.json", "config.model_name", IMG)
    added = submit_message(board, submission("tester/a _b_ (c)").encode(), "*bold*.json")
    assert "Added" in added
    assert_literal(added, "*bold*.json", "tester/a _b_ (c)")


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name,words",
    [
        (IMG, "U+0021"),
        (TICK, "U+0060"),
        ("..", "starts with U+002E"),
        (".hidden", "starts with U+002E"),
        ("../../etc/x", "starts with U+002E"),
        ("rnd\u200b", "invisible or control character U+200B (ZERO WIDTH SPACE)"),
        ("\u202ednr", "invisible or control character U+202E"),
        ("a\u2066b", "invisible or control character U+2066"),
        ("bell\x07", "U+0007"),
        ("han\u3164gul", "invisible or control character U+1160"),  # NFKC: U+3164 HANGUL FILLER -> U+1160
        ("my  arm", "doubled space"),
        ("r\u0430nd", "mixes the scripts CYRILLIC, LATIN"),  # a Cyrillic а: looks like the arm rnd
        ("x" * (NAME_MAX + 1), f"{NAME_MAX + 1} characters long"),
    ],
)
def test_names_break_the_rule_are_refused_naming_field_and_rule(board, name, words):
    n = len(board.snapshot())
    with pytest.raises(SubmissionError) as err:
        board.add(submission(name))
    assert err.value.field == "config.model_name" and words in err.value.reason, str(err.value)
    assert "a name is 1 to" in err.value.reason  # the rule itself is stated
    assert len(board.snapshot()) == n


def test_every_free_text_field_follows_the_rule(board):
    d = json.loads(submission("tester/ok"))
    for key, value, field in (
        ("model_arch", "conv<script>", "config.model_arch"),
        ("corpus", "human\u200d", "config.corpus"),
    ):
        bad = copy.deepcopy(d)
        bad["config"].update({key: value, "init": "pretrained"})
        with pytest.raises(SubmissionError) as err:
            board.add(json.dumps(bad))
        assert err.value.field == field and "a name is 1 to" in err.value.reason
    record = {
        "stage": "finetune",
        "task": "gue/tf_2",
        "arm": "rnd\u200f",
        "model": "convnova",
        "init": "random",
        "tokenizer": {"family": "char"},
        "mode": "full",
        "seed": 9,
        "primary_metric": "mcc",
        "metrics": {"test": {"mcc": 0.11}},
    }
    with pytest.raises(SubmissionError) as err:
        board.add(json.dumps(record))
    assert err.value.field == "arm" and "U+200F" in err.value.reason


def test_names_in_any_script_are_welcome(board):
    names = ["日本語モデル", "bert-中文 (v2)", "한국어 모델", "Ελληνικά", "नमस्ते", "ß-model", "naïve=1"]
    for i, name in enumerate(names):
        assert board.add(submission(name, mcc=0.5 + i / 100))[0].arm == name
    assert set(names) <= set(board.arms())


def test_names_are_nfkc_normalised(board):
    """Full-width letters fold to plain ones: `ｒｎｄ` is the arm `rnd`, so its model must match rnd's."""
    runs = board.add(submission("ｒｎｄ", seed=4, mcc=0.25))
    assert runs[0].arm == "rnd" and len(board.cell("rnd", "gue/tf_2").scores) == 4
    with pytest.raises(SubmissionError, match="differs from arm 'rnd'"):
        board.add(submission("ｒｎｄ", seed=5, mcc=0.26, model="unet"))


# -------------------------------------------------------------------------------------------- storage


def _saved(subs: Path) -> list[Path]:
    return sorted(p for p in subs.rglob("*") if p.is_file())


def test_names_that_slug_alike_are_stored_apart_and_all_reload(folder, tmp_path):
    subs = tmp_path / "subs"
    b = Board.from_folder(folder, submissions_dir=subs)
    names = ["my arm", "my_arm", "ärm", "örm", "my-arm", "My-Arm"]
    for i, name in enumerate(names):
        b.add(submission(name, mcc=0.4 + i / 100), origin=f"{i}.json")
    files = _saved(subs)
    assert len(files) == len(names)
    assert all(p.parent == subs / "results" for p in files)  # under the results folder, one level
    again = Board.from_folder(folder, submissions_dir=subs)
    got = {(r.arm, r.seed, r.value) for r in again.snapshot() if r.source == "submitted"}
    assert got == {(name, 1, 0.4 + i / 100) for i, name in enumerate(names)}
    # each file holds exactly the bytes that were accepted
    assert sorted(p.read_text() for p in files) == sorted(submission(n, mcc=0.4 + i / 100) for i, n in enumerate(names))


def test_path_like_names_never_leave_the_results_folder(folder, tmp_path):
    subs = tmp_path / "subs"
    b = Board.from_folder(folder, submissions_dir=subs)
    for name in ("..", "../../etc/x", ".hidden"):
        with pytest.raises(SubmissionError, match="starts with U[+]002E"):
            b.add(submission(name, mcc=0.41))
    assert not _saved(subs)
    b.add(submission("a/../../b", mcc=0.42))  # letters, dots and slashes: a valid name, and never a path
    written = [p for p in tmp_path.rglob("*") if p.is_file() and folder not in p.parents]
    assert len(written) == 1 and written[0].parent == subs / "results", written
    assert Board.from_folder(folder, submissions_dir=subs).arms()["a/../../b"].source == "submitted"


def test_huge_seed_is_refused_before_anything_is_added_or_written(folder, tmp_path):
    subs = tmp_path / "subs"
    b = Board.from_folder(folder, submissions_dir=subs)
    n = len(b.snapshot())
    d = json.loads(submission("tester/seedy"))
    for seed, field, words in (
        (10**249, "file", "integer of 250 digits"),
        (MAX_SEED + 1, "config.seed", f"from 0 to {MAX_SEED}"),
        (-1, "config.seed", f"from 0 to {MAX_SEED}"),
    ):
        d["config"]["seed"] = seed
        with pytest.raises(SubmissionError) as err:
            b.add(json.dumps(d))
        assert err.value.field == field and words in err.value.reason, str(err.value)
    assert len(b.snapshot()) == n and not _saved(subs)
    d["config"]["seed"] = MAX_SEED  # the largest seed is fine, and saved
    b.add(json.dumps(d))
    assert len(_saved(subs)) == 1


def test_a_run_joins_the_board_only_once_durably_written(folder, tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    b = Board.from_folder(folder, submissions_dir=subs)
    n = len(b.snapshot())

    real_fsync = os.fsync

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    def folder_fsync_fails(fd):  # the file's own fsync works; the folder's, after the rename, does not
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    # failing before, at and after the rename: nothing stays
    for step, fail in (("fdopen", disk_full), ("replace", disk_full), ("fsync", folder_fsync_fails)):
        with monkeypatch.context() as m:
            m.setattr(boardmod.os, step, fail)
            with pytest.raises(SubmissionError) as err:
                b.add(submission("tester/late"))
        assert "could not save" in err.value.reason and "nothing was added" in err.value.reason, step
        assert len(b.snapshot()) == n and not _saved(subs), step  # the temp file is gone too
    b.add(submission("tester/late"))  # the same file, once the disk has room: accepted and saved
    assert len(b.snapshot()) == n + 1 and len(_saved(subs)) == 1
    assert "tester/late" in Board.from_folder(folder, submissions_dir=subs).arms()


def test_an_arm_keeps_one_corpus_whichever_file_named_it_first(folder, tmp_path):
    """A file without a corpus does not open the arm to any corpus: otherwise `human` then `mouse` after a
    corpus-less file are both accepted, and a restart that reads them in another order refuses one."""
    subs = tmp_path / "subs"
    b = Board.from_folder(folder, submissions_dir=subs)
    b.add(submission("tester/pre", seed=1, mcc=0.41, init="pretrained"))
    human = json.loads(submission("tester/pre", seed=2, mcc=0.42, init="pretrained"))
    human["config"]["corpus"] = "human"
    b.add(json.dumps(human))
    mouse = json.loads(submission("tester/pre", seed=3, mcc=0.43, init="pretrained"))
    mouse["config"]["corpus"] = "mouse"
    with pytest.raises(SubmissionError) as err:
        b.add(json.dumps(mouse))
    assert err.value.field == "config.corpus" and "'mouse' differs from arm 'tester/pre'" in err.value.reason
    again = Board.from_folder(folder, submissions_dir=subs)
    assert sorted(r.seed for r in again.snapshot() if r.arm == "tester/pre") == [1, 2]


# ----------------------------------------------------------------------------------------- duplicates


def test_near_duplicate_scores_are_refused(board):
    copy_ = _results("rnd", 1, 0.31)  # rnd seed 1's file, renamed and reseeded
    copy_["config"].update(model_name="thief/copy", seed=77)
    for nudge in ({"mcc": 0.31 + 1e-15}, {"loss": 0.5 - 0.031 + 1e-10}, {"extra_metric": 0.5}):
        d = copy.deepcopy(copy_)
        d["results"]["gue/tf_2"].update(nudge)
        with pytest.raises(SubmissionError) as err:
            board.add(json.dumps(d))
        assert err.value.field == "results.gue/tf_2" and "within 1e-09" in err.value.reason, nudge
    d = copy.deepcopy(copy_)
    d["results"]["gue/tf_2"]["mcc"] = 0.31 + 1e-6  # a different run that happens to score close: accepted
    board.add(json.dumps(d))


# -------------------------------------------------------------------------------------- malformed files


def _nested(depth: int) -> str:
    return '{"config": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    "raw,words",
    [
        (_nested(100_000), "nests objects or arrays more than 16 deep"),
        (_nested(40), "nests objects or arrays more than 16 deep"),
        ('{"config": {"seed": ' + "9" * 5000 + "}}", "integer of 5,000 digits"),
        (submission("tester/x").replace("0.4321", "-" + "1" * 31), "integer of 31 digits"),
    ],
)
def test_deep_nesting_and_huge_integers_are_refused(board, raw, words):
    with pytest.raises(SubmissionError) as err:
        board.add(raw)
    assert err.value.field == "file" and words in err.value.reason, str(err.value)
    assert "Refused" in submit_message(board, raw.encode(), "f.json")


WRONG = [None, True, -1, 0, 2.5, 1e308, "x", "", [], [1], {}, {"a": 1}]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))


def test_every_wrong_type_anywhere_is_a_submission_error():
    """Each field of a valid file (results format and run record) replaced by each wrong value: the file is
    either accepted or refused with a SubmissionError; never another exception (a bare "Error" in the app)."""
    record = {
        "stage": "finetune",
        "task": "gue/tf_2",
        "arm": "r",
        "model": "convnova",
        "init": "pretrained",
        "corpus": {"name": "human"},
        "tokenizer": {"family": "kmer", "k": 6, "overlapping": True},
        "mode": "full",
        "seed": 9,
        "primary_metric": "mcc",
        "metrics": {"test": {"mcc": 0.11}},
        "cost": {"train_flops": 1e12, "pretraining_flops": 3e15},
    }
    results = _results("r", 1, 0.2, init="pretrained")
    results["config"]["corpus"] = "human"
    results["cost"] = {"flops": 1e12}
    refused = 0
    for good in (results, record):
        for path in _paths(good):
            if not path:
                continue
            for value in WRONG:
                d = copy.deepcopy(good)
                node = d
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = value
                try:
                    parse_submission(json.dumps(d))
                except SubmissionError as err:
                    assert err.field and err.reason
                    refused += 1
    assert refused > 100  # most replacements are wrong


@pytest.mark.parametrize(
    "raw",
    [
        '{"config": {"seed": 1e999}}',
        '{"results": {"gue/tf_2": {"mcc": -1e999}}}',
        '{"config": {"seed": NaN}}',
        '{"results": {"gue/tf_2": {"mcc": Infinity}}}',
    ],
)
def test_non_finite_numbers_are_refused(raw):
    with pytest.raises(SubmissionError):
        parse_submission(raw)


@pytest.mark.slow
def test_the_app_reads_saved_submissions_from_dnalm_submissions(folder, tmp_path):
    """$DNALM_SUBMISSIONS is --submissions' default (a Space sets it to its persistent storage): a restart with
    it set shows what was accepted before."""
    subs = tmp_path / "subs"
    Board.from_folder(folder, submissions_dir=subs).add(submission("tester/kept"))
    env = {**os.environ, "DNALM_SUBMISSIONS": str(subs)}
    proc = subprocess.run(
        [sys.executable, "-m", "space.app", "--results", str(folder), "--check"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "space: 4 runs, 2 arms" in proc.stdout, proc.stdout  # the folder's 3 runs and the saved one

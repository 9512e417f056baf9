"""A grid spec is checked whole at load time, and a grid stops, is killed and restarts without losing a run.

Spec (issue 23 item 5): a misspelt train.py field, an arm name that would leave runs_dir, and an environment
variable outside a path field are errors when the spec is loaded, before `--list`, `--dry-run` or any run.
Runner (issue 23 item 4): SIGTERM/SIGINT reach the running train.py, exit 75 means "interrupted, resumable",
and a restart after `kill -9` neither fails on nor duplicates a train.py the killed grid left running.
"""

from pathlib import Path

import pytest
import yaml

from assess import grid
from assess import spec as specmod

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, **over) -> Path:
    path = tmp_path / "g.yaml"
    spec = {"name": "g", "seeds": [1], "tasks": ["gue/prom_core_tata"], "runs_dir": str(tmp_path / "runs"),
            "arms": {"a": {"model": "convnova"}}, **over}
    path.write_text(yaml.safe_dump(spec))
    return path


# ------------------------------------------------------------------------------------------ spec at load time


def test_spec_field_list_is_train_py_s():
    """The field list read from the source files (no torch import) is exactly the one train.py checks with."""
    from training.arguments import _valid_keys

    assert specmod.train_fields() == _valid_keys()


@pytest.mark.parametrize("where", ["arm", "common", "pretrain", "task_overrides", "sweep"])
def test_misspelt_field_fails_at_load_with_a_suggestion(tmp_path, where, capsys):
    bad = {"learnin_rate": 1e-3}
    over = {"arm": {"arms": {"a": {"model": "convnova", **bad}}}, "common": {"common": bad},
            "pretrain": {"pretrain": {"p": {"model": "convnova", "corpus": "human", **bad}}},
            "task_overrides": {"task_overrides": {"gue/*": bad}},
            "sweep": {"arms": {"a": {"model": "convnova", "sweep": {"learnin_rate": [1e-3, 3e-3]}}}}}[where]
    path = _spec(tmp_path, **over)
    with pytest.raises(ValueError, match=r"unknown train.py field 'learnin_rate'; did you mean 'learning_rate'\?"):
        specmod.load_spec(path)
    for flag in ("--list", "--dry-run"):  # before: both passed, and the run failed only when reached
        with pytest.raises(ValueError, match="learnin_rate"):
            grid.main([str(path), flag])
    assert not (tmp_path / "runs").exists()


def test_valid_fields_and_sweeps_still_load(tmp_path):
    spec = specmod.load_spec(_spec(tmp_path, common={"weight_decay": 0.01, "eval_strategy": "steps"},
                                   arms={"a": {"model": "basset", "sweep": {"learning_rate": [1e-3, 3e-3]}}}))
    assert spec["arms"]["a"]["model"] == "basset"  # models are the registry's business, not the spec's


@pytest.mark.parametrize("name", ["../../../x", "a/b", ".hidden", "-flag", "a b", "..", "a\\b"])
def test_arm_and_pretrain_names_cannot_leave_runs_dir(tmp_path, name):
    with pytest.raises(ValueError, match="names become folders under runs_dir"):
        specmod.load_spec(_spec(tmp_path, arms={name: {"model": "convnova"}}))
    with pytest.raises(ValueError, match="names become folders under runs_dir"):
        specmod.load_spec(_spec(tmp_path, pretrain={name: {"model": "convnova", "corpus": "human"}}))


def test_env_vars_expand_in_path_fields_only(tmp_path, monkeypatch):
    monkeypatch.setenv("GT_GENOMES", "/data/genomes")
    monkeypatch.setenv("GT_SECRET", "hf_not_a_real_token")
    spec = specmod.load_spec(_spec(tmp_path, pretrain={"p": {"model": "convnova", "corpus": "human",
                                                            "corpus_fasta": ["$GT_GENOMES/hg38.fa", "${GT_GENOMES}/b.fa"]}},
                                   common={"data_dir": "$GT_GENOMES/gue"}))
    assert spec["pretrain"]["p"]["corpus_fasta"] == ["/data/genomes/hg38.fa", "/data/genomes/b.fa"]
    assert spec["common"]["data_dir"] == "/data/genomes/gue"
    for over in ({"arms": {"a": {"model": "convnova", "hub_model_id": "$GT_SECRET"}}},
                 {"common": {"run_name": "x-${GT_SECRET}"}}, {"description": "costs $GT_SECRET"}):
        with pytest.raises(ValueError, match=r"field '(hub_model_id|run_name|description)' names an environment "
                                             r"variable \(\$\{?GT_SECRET\}?\); only the path fields"):
            specmod.load_spec(_spec(tmp_path, **over))

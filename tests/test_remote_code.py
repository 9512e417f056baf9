"""Saved folders load where dnalm-assess is not installed: `trust_remote_code=True` with the code the folder
carries, giving the same outputs, through the Auto classes and the pipelines. Each check runs in a fresh
Python process in which importing any of this project's packages fails."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

import modeling  # noqa: F401
import train
from dnalm_core.registry import MODELS, TOKENIZERS

ROOT = Path(__file__).resolve().parents[1]
SEQS = ["ACGTACGTACGGTTGCAACGT", "ttgacNNACGTAGCTAGGCAT", "GGGCCCAAATTTGCGCATATAGC"]
MASKED = "ACGTACGTAC[MASK]TTGCAACG"

# The child process: our packages cannot be imported there, as on a machine that only has transformers.
BLOCK = """
import importlib.abc, sys
OURS = {"modeling", "dnalm_core", "data_scripts", "training", "assess", "train", "space"}
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OURS:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NotInstalled())
"""

CHILD = (
    BLOCK
    + """
import json, numpy as np, torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer, pipeline
args = json.loads(sys.argv[1])
out = {}
tok = AutoTokenizer.from_pretrained(args["mlm"], trust_remote_code=True)
enc = tok(args["seqs"], padding=True, return_tensors="pt")
out["ids"] = enc["input_ids"].tolist()
mlm = AutoModelForMaskedLM.from_pretrained(args["mlm"], trust_remote_code=True).eval()
with torch.no_grad():
    out["mlm_logits"] = mlm(**enc).logits.tolist()
fill = pipeline("fill-mask", model=args["mlm"], trust_remote_code=True)
out["fill"] = fill(args["masked"], top_k=3)
# a pretrained (masked-LM) folder also loads as a classifier, as fine-tuning needs
AutoModelForSequenceClassification.from_pretrained(args["mlm"], trust_remote_code=True, num_labels=2)
clf = AutoModelForSequenceClassification.from_pretrained(args["clf"], trust_remote_code=True).eval()
with torch.no_grad():
    out["clf_logits"] = clf(**AutoTokenizer.from_pretrained(args["clf"], trust_remote_code=True)(
        args["seqs"], padding=True, return_tensors="pt")).logits.tolist()
out["classify"] = pipeline("text-classification", model=args["clf"], trust_remote_code=True)(args["seqs"])
try:
    tok("ACGU")
    out["policy_error"] = None
except ValueError as err:
    out["policy_error"] = str(err)
ours = sorted(m for m in sys.modules if m.split(".")[0] in OURS)
assert not ours, ours
print(json.dumps(out))
"""
)


def run_child(mlm_dir, clf_dir):
    args = json.dumps({"mlm": str(mlm_dir), "clf": str(clf_dir), "seqs": SEQS, "masked": MASKED})
    r = subprocess.run(
        [sys.executable, "-c", CHILD, args],
        capture_output=True,
        text=True,
        cwd=mlm_dir.parent,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(mlm_dir.parent / "hf")},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def tokenizer_of(family, shared):
    if family == "bpe":
        return TOKENIZERS.get("bpe").build(path=shared / "dnabert2")
    if family.startswith("kmer"):
        return TOKENIZERS.get("kmer").build(k=3, overlapping=family == "kmer-overlapping")
    return TOKENIZERS.get("char").build()


CASES = [
    ("convnova", "tiny", "char"),
    ("unet", "small", "char"),
    ("dnabert2", "tiny", "bpe"),
    ("dnabert2", "tiny", "kmer-overlapping"),
    ("dnabert2", "tiny", "char"),
]


@pytest.mark.slow
@pytest.mark.parametrize("model,preset,family", CASES)
def test_saved_folders_load_without_the_package(tmp_path, shared_data, model, preset, family):
    torch.manual_seed(0)
    tok = tokenizer_of(family, shared_data)
    entry = MODELS.get(model)
    mlm = AutoModelForMaskedLM.from_config(
        entry.config(preset, vocab_size=len(tok), pad_token_id=tok.pad_token_id)
    ).eval()
    clf = AutoModelForSequenceClassification.from_config(
        entry.config(preset, vocab_size=len(tok), pad_token_id=tok.pad_token_id, num_labels=2)
    ).eval()
    for m, name in ((mlm, "mlm"), (clf, "clf")):
        m.save_pretrained(tmp_path / name)
        tok.save_pretrained(tmp_path / name)
    got = run_child(tmp_path / "mlm", tmp_path / "clf")

    enc = tok(SEQS, padding=True, return_tensors="pt")
    assert got["ids"] == enc["input_ids"].tolist()
    with torch.no_grad():
        ref_mlm, ref_clf = mlm(**enc).logits, clf(**enc).logits
    keep = enc["attention_mask"].bool()
    np.testing.assert_allclose(np.array(got["mlm_logits"])[keep.numpy()], ref_mlm[keep].numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["clf_logits"], ref_clf.numpy(), rtol=0, atol=1e-6)
    # the pipelines' answers equal the model's own numbers
    fill_ids = tok(MASKED, return_tensors="pt")
    pos = int((fill_ids["input_ids"][0] == tok.mask_token_id).nonzero()[0])
    with torch.no_grad():
        probs = mlm(**fill_ids).logits[0, pos].softmax(-1)
    top = probs.topk(3)
    assert [d["token"] for d in got["fill"]] == top.indices.tolist()
    np.testing.assert_allclose([d["score"] for d in got["fill"]], top.values.numpy(), rtol=1e-5)
    ref_labels = [clf.config.id2label[i] for i in ref_clf.argmax(-1).tolist()]
    assert [d["label"] for d in got["classify"]] == ref_labels
    # the policy travels with the tokenizer: RNA is refused, naming the base
    assert got["policy_error"] is not None and "'U' at position 3" in got["policy_error"]


# Models without a masked-LM head (Basset, DeepSEA): a classifier folder, its backbone and the pipeline.
CHILD_CLASSIFIER = (
    BLOCK
    + """
import json, torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline
args = json.loads(sys.argv[1])
tok = AutoTokenizer.from_pretrained(args["clf"], trust_remote_code=True)
enc = tok(args["seqs"], padding=True, return_tensors="pt")
out = {"ids": enc["input_ids"].tolist()}
clf = AutoModelForSequenceClassification.from_pretrained(args["clf"], trust_remote_code=True).eval()
backbone = AutoModel.from_pretrained(args["clf"], trust_remote_code=True).eval()
with torch.no_grad():
    out["clf_logits"] = clf(**enc).logits.tolist()
    out["pooled"] = backbone(**enc).pooler_output.tolist()
out["classify"] = pipeline("text-classification", model=args["clf"], trust_remote_code=True)(args["seqs"])
ours = sorted(m for m in sys.modules if m.split(".")[0] in OURS)
assert not ours, ours
print(json.dumps(out))
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["basset", "deepsea"])
def test_classifier_only_folders_load_without_the_package(tmp_path, model):
    torch.manual_seed(0)
    tok = TOKENIZERS.get("char").build()
    clf = AutoModelForSequenceClassification.from_config(
        MODELS.get(model).config("small", vocab_size=len(tok), pad_token_id=tok.pad_token_id, num_labels=2)
    ).eval()
    for module in clf.modules():  # eval-mode batch norm that is not the identity
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    clf.save_pretrained(tmp_path / "clf")
    tok.save_pretrained(tmp_path / "clf")
    args = json.dumps({"clf": str(tmp_path / "clf"), "seqs": SEQS})
    r = subprocess.run(
        [sys.executable, "-c", CHILD_CLASSIFIER, args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf")},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    enc = tok(SEQS, padding=True, return_tensors="pt")
    assert got["ids"] == enc["input_ids"].tolist()
    with torch.no_grad():
        ref = clf(**enc).logits
        pooled = clf.base_model(**enc).pooler_output
    np.testing.assert_allclose(got["clf_logits"], ref.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["pooled"], pooled.numpy(), rtol=0, atol=1e-6)
    assert [d["label"] for d in got["classify"]] == [clf.config.id2label[i] for i in ref.argmax(-1).tolist()]
    np.testing.assert_allclose([d["score"] for d in got["classify"]], ref.softmax(-1).max(-1).values.numpy(), rtol=1e-5)


@pytest.mark.slow
def test_a_train_py_checkpoint_loads_without_the_package(tmp_path):
    """The folder train.py writes (and --push_to_hub uploads) is one of these folders."""
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--model",
                "convnova",
                "--preset",
                "tiny",
                "--task",
                "gue/prom_core_tata",
                "--max_steps",
                "2",
                "--max_train_samples",
                "64",
                "--max_eval_samples",
                "32",
                "--eval_strategy",
                "no",
                "--save_strategy",
                "no",
                "--load_best_model_at_end",
                "false",
                "--disable_tqdm",
                "true",
                "--output_dir",
                str(out),
            ]
        )
        == 0
    )
    folder = out / "model"
    for name in ("convnova.py", "nucleotide.py", "common.py", "tokenization_dna.py", "dna_policy.py"):
        assert (folder / name).is_file(), name
    card = (folder / "README.md").read_text()
    assert "trust_remote_code=True" in card and "import modeling" in card
    code = (
        BLOCK
        + f"""
from transformers import pipeline
clf = pipeline("text-classification", model={str(folder)!r}, trust_remote_code=True)
print(clf("ACGTACGTAGCTAGCATCGATCGATCGGATCGATCGATCGACTAGCTAGCATCGATCGATCGATCGATCGA")[0]["label"])
"""
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf")},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        pred = (
            model(**tok("ACGTACGTAGCTAGCATCGATCGATCGGATCGATCGATCGACTAGCTAGCATCGATCGATCGATCGATCGA", return_tensors="pt"))
            .logits.argmax(-1)
            .item()
        )
    assert r.stdout.strip().splitlines()[-1] == model.config.id2label[pred]

"""`python -m modeling.convert_dnabert2`: published DNABERT-2 layout -> native folder for the Auto classes.

The source folders are the shared parity weights (../shared/data/parity/dnabert2_tiny, a `BertForMaskedLM`
state dict laid out like the published checkpoint) with a published-style config.json at the tiny sizes and
the published tokenizer (../shared/data/dnabert2).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer, pipeline

import modeling  # noqa: F401  (registers the Auto classes)
import modeling.convert_dnabert2 as convert_module
from modeling.convert_dnabert2 import convert, main
from modeling.dnabert2 import DNABert2Config, DNABert2ForMaskedLM
from modeling.tokenization import load_tokenizer

TOL = 1e-5
SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


@pytest.fixture(scope="module")
def parity(shared_data):
    root = shared_data / "parity" / "dnabert2_tiny"
    return dict(
        meta=json.loads((root / "meta.json").read_text()),
        io=load_file(str(root / "io.safetensors")),
        weights=root / "mlm_weights.safetensors",
    )


def published_folder(folder: Path, shared_data: Path, parity: dict, fmt: str = "safetensors") -> Path:
    """A folder laid out like zhihan1996/DNABERT-2-117M: its config.json (no model_type, remote-code auto_map)
    at the parity sizes, the parity masked-LM weights, the published tokenizer files and LICENSE."""
    config = json.loads((shared_data / "dnabert2" / "config.json").read_text())
    assert "model_type" not in config and "auto_map" in config
    config.update({key: parity["meta"]["config"][key] for key in SIZES})
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    if fmt == "safetensors":
        shutil.copyfile(parity["weights"], folder / "model.safetensors")
    else:
        torch.save(load_file(str(parity["weights"])), folder / "pytorch_model.bin")
    for name in ("tokenizer.json", "tokenizer_config.json", "LICENSE"):
        shutil.copyfile(shared_data / "dnabert2" / name, folder / name)
    return folder


@pytest.fixture(scope="module", params=["safetensors", "bin"])
def converted(request, parity, shared_data, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"convert_{request.param}")
    src = published_folder(base / "src", shared_data, parity, request.param)
    dst = convert(src, base / "dst")
    return src, dst


def logits_of(model, io):
    with torch.no_grad():
        return model.eval()(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits


# ------------------------------------------------------------------------------------------------
# the converted folder
# ------------------------------------------------------------------------------------------------


def test_converted_folder_layout(converted):
    src, dst = converted
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md", "LICENSE"} <= {
        path.name for path in dst.iterdir()
    }
    assert not (dst / "pytorch_model.bin").exists()
    saved = json.loads((dst / "config.json").read_text())
    # no auto_map to the reference's remote code: the one saved names the code this folder carries
    assert saved["model_type"] == "dnabert2" and saved["auto_map"] == {
        "AutoConfig": "dnabert2.DNABert2Config",
        "AutoModel": "dnabert2.DNABert2Model",
        "AutoModelForMaskedLM": "dnabert2.DNABert2ForMaskedLM",
        "AutoModelForSequenceClassification": "dnabert2.DNABert2ForSequenceClassification",
    }
    assert (dst / "dnabert2.py").is_file() and (dst / "tokenization_dna.py").is_file()
    assert type(AutoConfig.from_pretrained(dst)) is DNABert2Config
    # the tied decoder is stored once, as the word embedding
    assert "cls.predictions.decoder.weight" not in load_file(str(dst / "model.safetensors"))
    assert not [path for path in dst.parent.iterdir() if ".partial-" in path.name]


def test_auto_model_equals_source_and_golden_outputs(converted, parity):
    src, dst = converted
    io = parity["io"]
    auto = AutoModelForMaskedLM.from_pretrained(dst)
    assert type(auto) is DNABert2ForMaskedLM
    ours = logits_of(auto, io)
    assert torch.equal(ours, logits_of(DNABert2ForMaskedLM.from_pretrained(src), io))
    real = io["attention_mask"].bool()
    assert (ours - io["mlm_logits"])[real].abs().max().item() <= TOL
    assert auto.cls.predictions.decoder.weight.data_ptr() == auto.bert.embeddings.word_embeddings.weight.data_ptr()


def test_auto_tokenizer_gives_the_published_ids(converted, parity, shared_data):
    src, dst = converted
    auto = AutoTokenizer.from_pretrained(dst)
    published = Tokenizer.from_file(str(shared_data / "dnabert2" / "tokenizer.json"))
    sequences = parity["meta"]["sequences"]
    ids = auto(sequences)["input_ids"]
    assert ids == [published.encode(seq).ids for seq in sequences]
    assert ids == load_tokenizer(src)(sequences)["input_ids"]
    # the parity inputs themselves (padded with [PAD] = 3)
    batch = auto(sequences, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], parity["io"]["input_ids"])
    assert torch.equal(batch["attention_mask"], parity["io"]["attention_mask"].to(batch["attention_mask"].dtype))


def test_classifier_from_converted_folder_reports_only_the_new_head(converted):
    _, dst = converted
    model, info = AutoModelForSequenceClassification.from_pretrained(dst, num_labels=2, output_loading_info=True)
    assert set(info["missing_keys"]) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.classifier.out_features == 2


def test_fill_mask_pipeline_equals_source(converted):
    src, dst = converted
    text = "ACGTAGCATCGG[MASK]TTGACA"
    from_dst = pipeline("fill-mask", model=str(dst))(text, top_k=5)
    from_src = pipeline("fill-mask", model=DNABert2ForMaskedLM.from_pretrained(src), tokenizer=load_tokenizer(src))(
        text, top_k=5
    )
    assert [(r["token"], r["score"]) for r in from_dst] == [(r["token"], r["score"]) for r in from_src]


def test_model_card(converted):
    src, dst = converted
    card = ModelCard.load(dst / "README.md")
    assert card.data.license == "apache-2.0" and card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "fill-mask"
    # tiny random weights, not the published file: no base model is claimed
    assert card.data.base_model is None
    text = card.text
    for needle in (
        str(src),
        "zhihan1996/DNABERT-2-117M",
        "arXiv:2306.15006",
        "Apache-2.0",
        "import modeling",
        "AutoModelForMaskedLM",
        'pipeline("fill-mask"',
        "AutoModelForSequenceClassification",
    ):
        assert needle in text, needle
    assert f'from_pretrained("{dst}")' in text  # the examples load the folder itself when not pushed


# ------------------------------------------------------------------------------------------------
# refusals and failures
# ------------------------------------------------------------------------------------------------


def test_refuses_non_empty_destination(parity, shared_data, tmp_path):
    src = published_folder(tmp_path / "src", shared_data, parity)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="never overwrites"):
        convert(src, dst)
    with pytest.raises(SystemExit, match="never overwrites"):
        main([str(src), str(dst)])
    assert [path.name for path in dst.iterdir()] == ["keep.txt"]
    # an empty folder is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (convert(src, empty) / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "remove, named",
    [
        (("model.safetensors",), "model.safetensors or pytorch_model.bin"),
        (("tokenizer.json",), "tokenizer.json"),
        (("config.json",), "config.json"),
    ],
)
def test_refuses_source_not_in_published_layout(parity, shared_data, tmp_path, remove, named):
    src = published_folder(tmp_path / "src", shared_data, parity)
    for name in remove:
        (src / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"missing {named}"):
        convert(src, tmp_path / "dst")
    with pytest.raises(SystemExit, match=f"missing {named}"):
        main([str(src), str(tmp_path / "dst")])
    assert not (tmp_path / "dst").exists()


def test_refuses_a_native_folder_as_source(converted, tmp_path):
    _, dst = converted
    with pytest.raises(ValueError, match="already a native folder"):
        convert(dst, tmp_path / "again")


def test_failure_leaves_nothing_behind(parity, shared_data, tmp_path, monkeypatch):
    src = published_folder(tmp_path / "src", shared_data, parity)

    def broken(*args):
        raise RuntimeError("simulated failure after writing")

    monkeypatch.setattr(convert_module, "check_native", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        convert(src, tmp_path / "dst")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["src"]


def test_push_to_hub_offline_fails_fast_before_converting(parity, shared_data, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 does
    src = published_folder(tmp_path / "src", shared_data, parity)
    dst = tmp_path / "dst"
    started = time.monotonic()
    with pytest.raises(SystemExit) as caught:
        main([str(src), str(dst), "--push-to-hub", "someone/dnabert2-native"])
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "nothing was converted" in message and "hf upload someone/dnabert2-native" in message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["src"]

"""Basset (modeling/basset.py) and DeepSEA (modeling/deepsea.py): the published layer lists (parameter counts by
hand), the network against a plain-torch reading of the papers, the fixed input window, the Auto classes,
save/load, the pipeline, LoRA and train.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    pipeline,
)

import modeling
import train
from dnalm_core.registry import MODELS, TOKENIZERS
from modeling import (
    BassetConfig,
    BassetForSequenceClassification,
    BassetModel,
    DeepSEAConfig,
    DeepSEAForSequenceClassification,
    DeepSEAModel,
)
from training import flops

CLS, SEP, PAD, MASK, UNK = 1, 2, 3, 4, 0
ID = {"A": 5, "C": 6, "G": 7, "T": 8, "N": 9}
ONE_HOT = {"A": [1, 0, 0, 0], "C": [0, 1, 0, 0], "G": [0, 0, 1, 0], "T": [0, 0, 0, 1], "N": [0.25] * 4}
NAMES = ("basset", "deepsea")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_seqs(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=length)) for _ in range(n)]


def ids_of(seq: str) -> list[int]:
    return [CLS] + [ID[c] for c in seq] + [SEP]


def window_by_hand(seq: str, length: int) -> torch.Tensor:
    """[4, length]: the sequence one-hot (N = 0.25) at offset (length - n) // 2, zero elsewhere."""
    x = np.zeros((length, 4), dtype=np.float32)
    start = (length - len(seq)) // 2
    x[start : start + len(seq)] = [ONE_HOT[c] for c in seq]
    return torch.from_numpy(x.T.copy())


def randomize_batch_norm(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics and affine parameters, so eval-mode batch norm is not the identity."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def small(name: str, **overrides):
    return MODELS.get(name).config("small", **{"num_labels": 3, **overrides})


# ------------------------------------------------------------------------------------------ paper facts


def test_basset_paper_parameter_count_by_hand():
    """Kelley et al. 2016: 4 -> 300 (w19) -> 200 (w11) -> 200 (w7), pools 3, 4, 4, batch norm after each
    convolution; 2 x 1000 fully connected (batch norm, dropout 0.3); 164 sigmoid outputs; 600 bp input."""
    # positions: 600 -> (600-19+1)=582 -> 582//3=194 -> (194-11+1)=184 -> 184//4=46 -> (46-7+1)=40 -> 40//4=10
    flattened = 200 * 10  # = 2,000
    conv1 = 300 * 4 * 19 + 300  # 22,800 weights + 300 biases = 23,100
    conv2 = 200 * 300 * 11 + 200  # 660,000 + 200 = 660,200
    conv3 = 200 * 200 * 7 + 200  # 280,000 + 200 = 280,200
    conv_bn = 2 * (300 + 200 + 200)  # weight and bias per channel: 1,400
    fc1 = flattened * 1000 + 1000  # 2,001,000
    fc2 = 1000 * 1000 + 1000  # 1,001,000
    fc_bn = 2 * (1000 + 1000)  # 4,000
    out = 1000 * 164 + 164  # 164,164
    total = conv1 + conv2 + conv3 + conv_bn + fc1 + fc2 + fc_bn + out
    assert total == 4_135_064
    cfg = MODELS.get("basset").config("paper")
    assert cfg.flattened_size == flattened and cfg.num_labels == 164
    assert cfg.problem_type == "multi_label_classification"
    model = BassetForSequenceClassification(cfg)
    assert model.num_parameters() == total
    assert sum(p.numel() for p in model.classifier.parameters()) == out
    assert flops.non_embedding_parameters(cfg, "classification") == total


def test_deepsea_paper_parameter_count_by_hand():
    """Zhou & Troyanskaya 2015: 4 -> 320 (w8), pool 4 -> 480 (w8), pool 4 -> 960 (w8); fully connected 925;
    919 sigmoid outputs; 1,000 bp input; no batch norm."""
    # positions: 1000 -> 993 -> 993//4=248 -> 241 -> 241//4=60 -> 53
    flattened = 960 * 53  # = 50,880
    conv1 = 320 * 4 * 8 + 320  # 10,240 + 320 = 10,560
    conv2 = 480 * 320 * 8 + 480  # 1,228,800 + 480 = 1,229,280
    conv3 = 960 * 480 * 8 + 960  # 3,686,400 + 960 = 3,687,360
    fc = flattened * 925 + 925  # 47,064,000 + 925 = 47,064,925
    out = 925 * 919 + 919  # 850,075 + 919 = 850,994
    total = conv1 + conv2 + conv3 + fc + out
    assert total == 52_843_119
    cfg = MODELS.get("deepsea").config("paper")
    assert cfg.flattened_size == flattened and cfg.num_labels == 919 and cfg.conv_dropouts == [0.2, 0.2, 0.5]
    with torch.device("meta"):  # 53M parameters: count them without allocating
        model = DeepSEAForSequenceClassification(cfg)
    assert model.num_parameters() == total
    assert flops.non_embedding_parameters(cfg, "classification") == total
    # the released code's variant: a fully connected layer of 919
    assert DeepSEAConfig(hidden_size=919, num_labels=919).flattened_size == flattened


def basset_by_hand(model: BassetForSequenceClassification, x: torch.Tensor) -> torch.Tensor:
    """The paper's Basset in plain torch (eval mode), from the config's lists: conv -> BN -> ReLU -> pool, x3;
    flatten; (linear -> BN -> ReLU) x2; linear."""
    cfg, sd = model.config, model.state_dict()
    for i, pool in enumerate(cfg.pool_sizes):
        p = f"basset.convs.{i}."
        x = F.conv1d(x, sd[p + "conv.weight"], sd[p + "conv.bias"])
        x = F.batch_norm(
            x,
            sd[p + "norm.running_mean"],
            sd[p + "norm.running_var"],
            sd[p + "norm.weight"],
            sd[p + "norm.bias"],
            False,
            0.0,
            cfg.batch_norm_eps,
        )
        x = F.max_pool1d(F.relu(x), pool)
    h = x.reshape(x.shape[0], -1)
    for j in range(len(cfg.hidden_sizes)):
        p = f"basset.hidden.{j}."
        h = F.linear(h, sd[p + "dense.weight"], sd[p + "dense.bias"])
        h = F.relu(
            F.batch_norm(
                h,
                sd[p + "norm.running_mean"],
                sd[p + "norm.running_var"],
                sd[p + "norm.weight"],
                sd[p + "norm.bias"],
                False,
                0.0,
                cfg.batch_norm_eps,
            )
        )
    return F.linear(h, sd["classifier.weight"], sd["classifier.bias"])


def deepsea_by_hand(model: DeepSEAForSequenceClassification, x: torch.Tensor) -> torch.Tensor:
    """The paper's DeepSEA in plain torch (eval mode: no dropout): conv -> ReLU -> pool 4, conv -> ReLU ->
    pool 4, conv -> ReLU; flatten; linear -> ReLU; linear."""
    sd = model.state_dict()
    for i, pool in enumerate(model.config.pool_sizes):
        x = F.relu(F.conv1d(x, sd[f"deepsea.convs.{i}.conv.weight"], sd[f"deepsea.convs.{i}.conv.bias"]))
        x = F.max_pool1d(x, pool) if pool > 1 else x
    h = F.relu(F.linear(x.reshape(x.shape[0], -1), sd["deepsea.hidden.dense.weight"], sd["deepsea.hidden.dense.bias"]))
    return F.linear(h, sd["classifier.weight"], sd["classifier.bias"])


@pytest.mark.parametrize("name", NAMES)
def test_paper_preset_at_its_own_length_matches_the_plain_torch_network(name):
    """The published preset runs at the published length (600 / 1,000 bp), and a 70 bp sequence is the published
    network on the hand-made centred window."""
    torch.manual_seed(0)
    cls, by_hand = {
        "basset": (BassetForSequenceClassification, basset_by_hand),
        "deepsea": (DeepSEAForSequenceClassification, deepsea_by_hand),
    }[name]
    model = cls(MODELS.get(name).config("paper")).eval()
    randomize_batch_norm(model)
    length = model.config.sequence_length
    full, short = random_seqs(2, length, seed=1), random_seqs(1, 70, seed=2)[0]
    with torch.no_grad():
        got = model(input_ids=torch.tensor([ids_of(s) for s in full])).logits
        want = by_hand(model, torch.stack([window_by_hand(s, length) for s in full]))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        got = model(input_ids=torch.tensor([ids_of(short)])).logits
        torch.testing.assert_close(got, by_hand(model, window_by_hand(short, length)[None]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_small_preset_matches_the_plain_torch_network_on_gue_lengths(name):
    torch.manual_seed(0)
    by_hand = {"basset": basset_by_hand, "deepsea": deepsea_by_hand}[name]
    model = AutoModelForSequenceClassification.from_config(small(name)).eval()
    randomize_batch_norm(model)
    assert model.config.sequence_length == 300
    for length in (70, 101, 299, 300):
        seqs = random_seqs(3, length, seed=length)
        with torch.no_grad():
            got = model(input_ids=torch.tensor([ids_of(s) for s in seqs])).logits
            want = by_hand(model, torch.stack([window_by_hand(s, 300) for s in seqs]))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------ input window


@pytest.mark.parametrize("name", NAMES)
def test_window_ignores_special_tokens_padding_and_batch(name):
    """A sequence's logits do not depend on [CLS]/[SEP], on left or right padding, or on the rest of the batch;
    [MASK] and [UNK] read as N (0.25 in every channel)."""
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(small(name)).eval()
    randomize_batch_norm(model)
    seq = "ACGTTGCANNGTACGATCGATTTACG"
    bare = torch.tensor([[ID[c] for c in seq]])
    with torch.no_grad():
        ref = model(input_ids=bare).logits
        with_specials = torch.tensor(
            [[CLS] + bare[0].tolist() + [SEP] + [PAD] * 9, [PAD] * 5 + [CLS] + bare[0].tolist() + [SEP] + [PAD] * 4]
        )
        mask = (with_specials != PAD).long()
        torch.testing.assert_close(
            model(input_ids=with_specials, attention_mask=mask).logits, ref.expand(2, -1), rtol=0, atol=1e-6
        )
        as_mask = bare.clone()
        as_mask[0, 8], as_mask[0, 9] = MASK, UNK  # the two N's
        torch.testing.assert_close(model(input_ids=as_mask).logits, ref, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_too_long_and_empty_inputs_raise(name):
    model = AutoModelForSequenceClassification.from_config(small(name)).eval()
    too_long = torch.full((2, 303), ID["A"])
    too_long[0, 150:] = PAD  # row 1 holds 303 nucleotides
    with pytest.raises(ValueError, match=r"batch row 1 has 303 nucleotides.*sequence_length=300.*max_length"):
        model(input_ids=too_long, attention_mask=(too_long != PAD).long())
    with pytest.raises(ValueError, match="batch row 0 has no nucleotide"):
        model(input_ids=torch.tensor([[CLS, SEP, PAD]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(input_ids=torch.tensor([[CLS, 12, SEP]]))


def test_hidden_states_are_the_conv_blocks_channels_last():
    model = BassetModel(small("basset")).eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids_of("ACGT" * 20)]), output_hidden_states=True)
    # 300 -> 282 -> 94 ; 94 -> 84 -> 21 ; 21 -> 15 -> 3
    assert [tuple(h.shape) for h in out.hidden_states] == [(1, 94, 75), (1, 21, 50), (1, 3, 50)]
    assert torch.equal(out.last_hidden_state, out.hidden_states[-1])
    assert out.pooler_output.shape == (1, 250)


@pytest.mark.parametrize(
    "bad,message",
    [
        (dict(conv_channels=[300, 200]), "one entry per conv layer"),
        (dict(pool_sizes=[3, 0, 4]), "positive integers"),
        (dict(sequence_length=167), "too short for the conv stack.*at least 168"),
        (dict(hidden_sizes=[]), "hidden_sizes"),
        (dict(hidden_dropout=1.0), "hidden_dropout"),
    ],
)
def test_bad_basset_configs_raise(bad, message):
    # huggingface_hub's @strict wraps the validator's ValueError; the message is ours
    with pytest.raises((ValueError, StrictDataclassClassValidationError), match=message):
        BassetConfig(**bad)


def test_bad_deepsea_configs_raise():
    with pytest.raises(StrictDataclassClassValidationError, match="conv_dropouts"):
        DeepSEAConfig(conv_dropouts=[0.2, 0.2])
    with pytest.raises(StrictDataclassClassValidationError, match="at least 163"):
        DeepSEAConfig(sequence_length=162)
    # the shortest windows leave exactly one position: 168 -> 150 -> 50 -> 40 -> 10 -> 4 -> 1 (Basset),
    # 163 -> 156 -> 39 -> 32 -> 8 -> 1 (DeepSEA)
    assert BassetConfig(sequence_length=168).conv_output_lengths() == [50, 10, 1]
    assert DeepSEAConfig(sequence_length=163).conv_output_lengths() == [39, 8, 1]


def test_batch_norm_needs_two_sequences_in_training():
    model = AutoModelForSequenceClassification.from_config(small("basset")).train()
    with pytest.raises(ValueError, match="at least 2 sequences per training batch"):
        model(input_ids=torch.tensor([ids_of("ACGTACGT")]))


# ------------------------------------------------------------------------------------------ heads and losses


@pytest.mark.parametrize("name", NAMES)
def test_multi_label_loss_is_the_papers_sigmoid_cross_entropy(name):
    torch.manual_seed(0)
    cfg = small(name, num_labels=5, problem_type="multi_label_classification")
    model = AutoModelForSequenceClassification.from_config(cfg).eval()
    ids = torch.tensor([ids_of(s) for s in random_seqs(4, 90, seed=3)])
    labels = torch.randint(0, 2, (4, 5))
    out = model(input_ids=ids, labels=labels)
    p = torch.sigmoid(out.logits.double())
    by_hand = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    assert abs(out.loss.item() - by_hand.item()) < 1e-5
    single = AutoModelForSequenceClassification.from_config(small(name, num_labels=2)).eval()
    out = single(input_ids=ids, labels=torch.tensor([0, 1, 1, 0]))
    by_hand = -out.logits.double().log_softmax(-1)[torch.arange(4), torch.tensor([0, 1, 1, 0])].mean()
    assert abs(out.loss.item() - by_hand.item()) < 1e-5


# ------------------------------------------------------------------------------------------ library integration


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_through_auto_classes(name, tmp_path):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(small(name)).eval()
    randomize_batch_norm(model)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == name and "AutoModelForMaskedLM" not in saved["auto_map"]
    assert saved["auto_map"]["AutoModelForSequenceClassification"] == f"{name}.{type(model).__name__}"
    for carried in (f"{name}.py", "classic_cnn.py", "nucleotide.py", "common.py"):
        assert (tmp_path / carried).is_file(), carried
    assert AutoConfig.from_pretrained(tmp_path).model_type == name
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    ids = torch.tensor([ids_of("ACGTTGCAAGT" * 7), ids_of("GGCATCGAT" * 9)[:79]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, loaded(input_ids=ids).logits)
        backbone = AutoModel.from_pretrained(tmp_path).eval()
        assert isinstance(backbone, {"basset": BassetModel, "deepsea": DeepSEAModel}[name])
        assert torch.equal(backbone(input_ids=ids).pooler_output, model.base_model(input_ids=ids).pooler_output)
    with pytest.raises(ValueError, match="Unrecognized configuration class"):
        AutoModelForMaskedLM.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_text_classification_pipeline_equals_the_model(name, tmp_path):
    torch.manual_seed(0)
    tok = TOKENIZERS.get("char").build()
    model = AutoModelForSequenceClassification.from_config(small(name, num_labels=2)).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    seqs = random_seqs(3, 101, seed=5)
    got = pipeline("text-classification", model=str(tmp_path))(seqs)
    with torch.no_grad():
        probs = model(**tok(seqs, return_tensors="pt")).logits.softmax(-1)
    assert [d["label"] for d in got] == [model.config.id2label[i] for i in probs.argmax(-1).tolist()]
    np.testing.assert_allclose([d["score"] for d in got], probs.max(-1).values.numpy(), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_lora_wraps_every_conv_and_dense_layer(name):
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(small(name)).eval()
    entry = MODELS.get(name)
    layers = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear))]
    expected = {n for n in layers if n != "classifier"}  # every conv and fully connected layer but the head
    ids = torch.tensor([ids_of(s) for s in random_seqs(2, 80, seed=7)])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    cfg = peft.LoraConfig(
        task_type=peft.TaskType.SEQ_CLS,
        r=2,
        target_modules=list(entry.lora_target_modules),
        modules_to_save=train.head_module_names(model),
    )
    lora = peft.get_peft_model(model, cfg)
    wrapped = {n.split("base_model.model.", 1)[-1] for n, m in lora.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == expected
    with torch.no_grad():  # LoRA starts as the identity (B = 0)
        torch.testing.assert_close(lora(input_ids=ids).logits, before, rtol=0, atol=1e-6)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)


def test_embed_refuses_them_clearly():
    """Their backbone output is the last convolution block at its pooled resolution, not one vector per token."""
    from modeling.embeddings import embed

    model = AutoModel.from_config(small("basset")).eval()
    with pytest.raises(ValueError, match="needs one vector per input token"):
        embed(model, TOKENIZERS.get("char").build(), ["ACGTACGTTTGACCA"], "mean")


def test_public_names_and_registry():
    assert (
        modeling.BassetConfig is BassetConfig
        and modeling.DeepSEAForSequenceClassification is DeepSEAForSequenceClassification
    )
    for name in NAMES:
        entry = MODELS.get(name)
        assert entry.tokenizers == ("char",) and not entry.pretrainable and set(entry.presets) == {"paper", "small"}
    assert all(MODELS.get(n).pretrainable for n in ("convnova", "unet", "dnabert2"))


# ------------------------------------------------------------------------------------------ train.py


def test_train_py_refuses_to_pretrain_them(tmp_path, capsys):
    for name in NAMES:
        rc = train.main(
            [
                "--model",
                name,
                "--stage",
                "pretrain",
                "--pretrain_task",
                "gue/prom_core_tata",
                "--output_dir",
                str(tmp_path / name),
            ]
        )
        assert rc == 2
        assert f"model {name!r} has no masked-LM head" in capsys.readouterr().err
        assert not (tmp_path / name).exists()


def test_train_py_refuses_a_task_longer_than_the_window_before_training(tmp_path, capsys):
    """prom_core_tata has 70 bp; a 60 bp window (small kernels, no pooling) cannot hold it: refused with the two
    fixes, before any folder is written."""
    small_window = json.dumps({"sequence_length": 60, "conv_kernel_sizes": [3, 3, 3], "pool_sizes": [1, 1, 1]})
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--model",
                "basset",
                "--task",
                "gue/prom_core_tata",
                "--model_config",
                small_window,
                "--max_train_samples",
                "32",
                "--output_dir",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "longest sequence has 70 bp, more than basset's fixed input window sequence_length=60" in err
    assert '{"sequence_length": 70}' in err and "--max_length 62" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "name,mode", [("basset", "full"), ("deepsea", "full"), ("basset", "lora"), ("deepsea", "probe")]
)
def test_train_py_fine_tunes_them_and_records_the_analytic_flops(name, mode, tmp_path):
    out = tmp_path / f"{name}-{mode}"
    fast = [
        "--max_train_samples",
        "96",
        "--max_eval_samples",
        "64",
        "--max_steps",
        "3",
        "--eval_strategy",
        "steps",
        "--eval_steps",
        "3",
        "--save_strategy",
        "steps",
        "--save_steps",
        "3",
        "--logging_steps",
        "1",
        "--per_device_train_batch_size",
        "16",
        "--disable_tqdm",
        "true",
    ]
    assert (
        train.main(["--model", name, "--task", "gue/prom_core_tata", "--mode", mode, *fast, "--output_dir", str(out)])
        == 0
    )
    rec = json.loads((out / "results.json").read_text())
    assert rec["model"] == name and rec["cost"]["global_steps"] == 3
    cfg = AutoConfig.from_pretrained(out / "model") if mode != "lora" else small(name, num_labels=2)
    # every step reads 16 sequences; the fixed window makes each cost the same whatever its length
    per_step = flops.forward_flops(cfg, 72, batch=16, task="classification")
    backward = {"full": 2.0, "lora": 1.0, "probe": 0.0}[mode]
    assert rec["cost"]["flops"] == pytest.approx((1 + backward) * 3 * per_step, rel=1e-6)
    total, trainable = rec["cost"]["total_params"], rec["cost"]["trainable_params"]
    assert (trainable == total) if mode == "full" else (0 < trainable < total)
    assert -1.0 <= rec["metrics"]["test"]["mcc"] <= 1.0
    if mode != "lora":
        tok = AutoTokenizer.from_pretrained(out / "model")
        model = AutoModelForSequenceClassification.from_pretrained(out / "model")
        assert model.config.sequence_length == 300 and len(tok) == model.config.vocab_size

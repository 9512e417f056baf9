"""Training-step throughput of our DNABERT-2 and, optionally, of the reference code on the same weights.

One step = forward + loss + backward (no optimizer step), fp32, train mode (dropout on), on a batch of
--batch-size x --seq-len tokens ([CLS] ... [SEP], no padding), for the sequence-classification model
(cross-entropy on 2 labels; `--task mlm` times the masked-LM model with 15% of positions as targets).
Configurations: `small` (hidden 128, 4 layers, 4 heads, intermediate 256) and `117m` (the published
DNABERT-2-117M sizes), both with the published 4096-token vocabulary.

With --reference DIR (a checkout of the DNABERT-2 remote code, i.e. the files of the Hugging Face repo
zhihan1996/DNABERT-2-117M: bert_layers.py, bert_padding.py, configuration_bert.py; supplied by the user,
nothing of it is copied here), the reference `BertForSequenceClassification` / `BertForMaskedLM` is
imported by file path in this process, given exactly our initial weights (the state-dict names are the
same), and timed on the same batches, alternating step by step so that both see the same machine load.
Its Triton kernel is kept out (the PyTorch attention path is timed): `flash_attn_triton` is replaced by an
empty module before `bert_layers` imports it, which makes its own `try/except ImportError` fall back.

The reference imports `einops` (its only dependency beyond torch/transformers): install it for the
benchmark only (`pip install einops`, or put a copy on PYTHONPATH); dnalm-assess does not need it. The
reference then runs unchanged on transformers 5.x, with one config value supplied: transformers 5
configs no longer carry `is_decoder`, which the reference's `BertForMaskedLM.__init__` reads, so the
benchmark passes `is_decoder=False` to the reference config.

With --baseline full, our model is also timed with its shortcuts off: the backbone runs its last layer
at every position (the classifier reads only [CLS], the masked-LM model only its labelled positions; see
`last_layer_positions` in modeling/dnabert2.py) and, for --task mlm, `sparse_prediction=False` runs the
head everywhere too. The ratio full_time / our_time says what the shortcuts are worth.

Printed per configuration: max abs difference of the outputs (eval mode, a padded batch: logits, pooled
output, last hidden state at real tokens) and of all parameter gradients after one forward+backward
without dropout; then tokens/s of each (median wall time per step over --steps) and the ratio
baseline_time / our_time for each baseline, also on process CPU time (steadier on a shared machine).

    python benchmarks/dnabert2_speed.py                                  # ours, small and 117m
    python benchmarks/dnabert2_speed.py --reference /path/to/DNABERT-2-117M
    python benchmarks/dnabert2_speed.py --reference DIR --configs small --steps 10 --threads 1
    python benchmarks/dnabert2_speed.py --baseline full --task mlm --configs small --threads 1
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import platform
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import transformers  # noqa: E402

from dnalm_core.registry import MODELS  # noqa: E402
from modeling.dnabert2 import DNABert2ForMaskedLM, DNABert2ForSequenceClassification  # noqa: E402

CONFIGS = ("small", "117m")
REFERENCE_FILES = ("bert_layers.py", "bert_padding.py", "configuration_bert.py")
CLS_ID, SEP_ID, PAD_ID, FIRST_BASE_ID = 1, 2, 3, 5  # the published tokenizer's ids


# ------------------------------------------------------------------------------------------------
# the reference code
# ------------------------------------------------------------------------------------------------


def load_reference(directory: Path):
    """Import the reference's bert_layers.py and configuration_bert.py from `directory`, PyTorch path."""
    missing = [name for name in REFERENCE_FILES if not (directory / name).is_file()]
    if missing:
        raise SystemExit(
            f"--reference {directory}: missing {', '.join(missing)}; pass a checkout of the Hugging Face repo "
            "zhihan1996/DNABERT-2-117M (the folder holding bert_layers.py)"
        )
    try:
        import einops  # noqa: F401
    except ImportError:
        raise SystemExit(
            "the reference code imports einops, which dnalm-assess does not install: `pip install einops` for "
            "this benchmark (or put a copy on PYTHONPATH) and run it again"
        ) from None
    # bert_layers.py uses relative imports (`from .bert_padding import ...`): load DIR as a package.
    package = "_dnabert2_reference"
    module = types.ModuleType(package)
    module.__path__ = [str(directory)]
    sys.modules[package] = module
    # An empty stand-in for flash_attn_triton: `from .flash_attn_triton import flash_attn_qkvpacked_func`
    # then raises ImportError, the reference's own switch to its PyTorch attention. (Importing the real
    # file would import triton where it is installed and take the Triton path, CUDA only.)
    sys.modules[f"{package}.flash_attn_triton"] = types.ModuleType(f"{package}.flash_attn_triton")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = importlib.import_module(f"{package}.bert_layers")
            configuration = importlib.import_module(f"{package}.configuration_bert")
    except Exception as error:  # report why, whatever it is: the user's checkout may differ from ours
        raise SystemExit(
            f"could not import the reference from {directory} with transformers {transformers.__version__}: "
            f"{type(error).__name__}: {error}"
        ) from error
    if layers.flash_attn_qkvpacked_func is not None:
        raise SystemExit("the reference still found a Triton kernel; cannot time its PyTorch path")
    return layers, configuration


def build_reference(layers, configuration, ours_config, task: str):
    config = configuration.BertConfig(
        vocab_size=ours_config.vocab_size,
        hidden_size=ours_config.hidden_size,
        num_hidden_layers=ours_config.num_hidden_layers,
        num_attention_heads=ours_config.num_attention_heads,
        intermediate_size=ours_config.intermediate_size,
        hidden_act=ours_config.hidden_act,
        hidden_dropout_prob=ours_config.hidden_dropout_prob,
        attention_probs_dropout_prob=ours_config.attention_probs_dropout_prob,
        max_position_embeddings=ours_config.max_position_embeddings,
        type_vocab_size=ours_config.type_vocab_size,
        initializer_range=ours_config.initializer_range,
        layer_norm_eps=ours_config.layer_norm_eps,
        alibi_starting_size=ours_config.alibi_starting_size,
        classifier_dropout=ours_config.classifier_dropout,
        pad_token_id=ours_config.pad_token_id,
        num_labels=ours_config.num_labels,
        is_decoder=False,  # read by the reference's BertForMaskedLM; transformers 5 configs lack it
    )
    cls = layers.BertForMaskedLM if task == "mlm" else layers.BertForSequenceClassification
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unable to import Triton", once per layer: intended here
        return cls(config)


def without_shortcuts(model):
    """A copy of our model that computes every position: the backbone ignores `last_layer_positions` and the
    masked-LM head scores every position (`sparse_prediction=False`). Same weights, same loss and gradients."""
    full = copy.deepcopy(model)
    backbone_forward = full.bert.forward

    def forward(*args, last_layer_positions=None, **kwargs):
        return backbone_forward(*args, **kwargs)

    full.bert.forward = forward
    full.config.sparse_prediction = False
    return full


# ------------------------------------------------------------------------------------------------
# batches and steps
# ------------------------------------------------------------------------------------------------


def make_batch(vocab: int, batch: int, seq_len: int, task: str, generator: torch.Generator, lengths=None):
    """[CLS] random tokens [SEP], right-padded to seq_len when `lengths` (tokens per row) is given."""
    ids = torch.randint(FIRST_BASE_ID, vocab, (batch, seq_len), generator=generator)
    lengths = lengths if lengths is not None else [seq_len] * batch
    mask = torch.zeros(batch, seq_len, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, 0], ids[row, n - 1], ids[row, n:] = CLS_ID, SEP_ID, PAD_ID
        mask[row, :n] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if task == "mlm":
        # 15% of the real non-special positions are targets; ids >= 5, so the reference's `labels > 0`
        # and our `labels != -100` select the same positions
        chosen = (torch.rand(batch, seq_len, generator=generator) < 0.15) & (mask == 1)
        chosen[:, 0] = False
        chosen[torch.arange(batch), torch.tensor(lengths) - 1] = False
        out["labels"] = torch.where(chosen, ids, torch.full_like(ids, -100))
    else:
        out["labels"] = torch.randint(0, 2, (batch,), generator=generator)
    return out


def train_step(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss


def compare(ours, ref, task: str, vocab: int, seq_len: int, generator: torch.Generator) -> dict[str, float]:
    """Max abs differences on a padded batch, eval mode (no dropout): outputs, loss, parameter gradients."""
    lengths = [seq_len, seq_len // 2, max(3, seq_len // 5), seq_len - 7]
    batch = make_batch(vocab, len(lengths), seq_len, task, generator, lengths)
    real = batch["attention_mask"].bool()
    ours.eval()
    ref.eval()
    result = {}
    with torch.no_grad():
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if task == "mlm":
            # the reference's logits are full only without labels
            a, b = ours(**inputs).logits, ref(**inputs).logits
            result["logits"] = (a - b)[real].abs().max().item()
        else:
            a, b = ours(**inputs).logits, ref(**inputs).logits
            result["logits"] = (a - b).abs().max().item()
            ours_base = ours.bert(**inputs)
            ref_hidden, ref_pooled = ref.bert(batch["input_ids"], attention_mask=batch["attention_mask"])
            result["pooled"] = (ours_base.pooler_output - ref_pooled).abs().max().item()
            result["last_hidden_state"] = (ours_base.last_hidden_state - ref_hidden)[real].abs().max().item()
    loss_ours, loss_ref = train_step(ours, batch), train_step(ref, batch)
    result["loss"] = abs(loss_ours.item() - loss_ref.item())
    ref_grads = dict(ref.named_parameters())
    result["gradients"] = max(
        (p.grad - ref_grads[name].grad).abs().max().item() for name, p in ours.named_parameters() if p.grad is not None
    )
    ours.zero_grad(set_to_none=True)
    ref.zero_grad(set_to_none=True)
    return result


def time_steps(models: dict, batch, warmup: int, steps: int) -> dict[str, dict[str, list[float]]]:
    for model in models.values():
        model.train()
    times = {name: {"wall": [], "cpu": []} for name in models}
    for step in range(warmup + steps):
        for name, model in models.items():  # alternate: both see the same machine load
            wall, cpu = time.perf_counter(), time.process_time()
            train_step(model, batch)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if step >= warmup:
                times[name]["wall"].append(wall)
                times[name]["cpu"].append(cpu)
    return times


def run(preset: str, args, reference) -> dict:
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    config = MODELS.get("dnabert2").config(preset, vocab_size=4096, num_labels=2)
    ours_cls = DNABert2ForMaskedLM if args.task == "mlm" else DNABert2ForSequenceClassification
    models = {"ours": ours_cls(config)}
    params = sum(p.numel() for p in models["ours"].parameters())
    record = {"config": preset, "params": params, "task": args.task}
    print(
        f"\n== {preset}: {params / 1e6:.1f}M parameters, {args.task}, batch {args.batch_size} x {args.seq_len} tokens"
    )
    if reference is not None:
        ref = build_reference(*reference, config, args.task)
        ref.load_state_dict(models["ours"].state_dict(), strict=True)
        models["reference"] = ref
        diffs = compare(models["ours"], ref, args.task, config.vocab_size, args.seq_len, generator)
        record["max_abs_diff"] = diffs
        print("max abs difference, ours vs reference: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    if args.baseline == "full":
        models["full"] = without_shortcuts(models["ours"])

    batch = make_batch(config.vocab_size, args.batch_size, args.seq_len, args.task, generator)
    times = time_steps(models, batch, args.warmup, args.steps)
    tokens = args.batch_size * args.seq_len
    for name, t in times.items():
        wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
        record[name] = {"median_step_s": wall, "median_cpu_s": cpu, "tokens_per_s": tokens / wall, "steps": t["wall"]}
        print(
            f"{name:>9}: {tokens / wall:10.1f} tokens/s  (median step {wall:.3f} s wall, {cpu:.3f} s CPU; "
            f"min {min(t['wall']):.3f} s; {len(t['wall'])} steps)"
        )
    for baseline in ("reference", "full"):
        if baseline in times:
            wall_ratio = record[baseline]["median_step_s"] / record["ours"]["median_step_s"]
            cpu_ratio = record[baseline]["median_cpu_s"] / record["ours"]["median_cpu_s"]
            key = "speedup" if baseline == "reference" else "speedup_vs_full"
            record[f"{key}_wall"], record[f"{key}_cpu"] = wall_ratio, cpu_ratio
            print(f"  speed-up vs {baseline}: {wall_ratio:.2f}x (wall), {cpu_ratio:.2f}x (CPU time)")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="folder with the reference bert_layers.py etc.")
    parser.add_argument("--baseline", choices=("full",), help="also time our model without its shortcuts")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--task", choices=("classification", "mlm"), default="classification")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    if args.seq_len < 8 or args.batch_size < 1 or args.steps < 1:
        parser.error("need --seq-len >= 8, --batch-size >= 1 and --steps >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    reference = load_reference(args.reference.resolve()) if args.reference else None
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, fp32 CPU"
        + (f"; reference: {args.reference} (PyTorch attention path)" if reference else "")
    )
    records = [run(preset, args, reference) for preset in configs]
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return records


if __name__ == "__main__":
    main()

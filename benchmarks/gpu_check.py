"""Five minutes on one GPU before a paper-scale grid: numerics, attention backend, throughput, a short fine-tune.

    python benchmarks/gpu_check.py --out gpu_check.md                  # on a CUDA machine (H100, A100, ...)
    python benchmarks/gpu_check.py --device cpu --steps 2 --tiny       # the dry path (tests/test_estimate.py)

For DNABERT-2, ConvNova and the U-Net at their paper presets (117m, hg38_pretrain, paper; `--tiny`: tiny, tiny,
small), as sequence classifiers from random init, it checks:
1. bf16 against fp32: one eval-mode batch in fp32 and under bf16 autocast (what train.py's `--bf16` runs);
   the largest logit difference, relative to the largest fp32 logit, and how many predictions agree.
2. which `scaled_dot_product_attention` backend runs DNABERT-2 (ALiBi is an additive mask: FlashAttention
   refuses masks, so the memory-efficient kernel is expected): each backend alone, in bf16.
3. train-step throughput (forward, loss, backward, AdamW step, bf16 autocast on CUDA, fp32 on CPU) on
   `--batch` sequences of `--bert-len` BPE tokens (DNABERT-2; ~128 tokens is 500-600 bp) or `--conv-len`
   positions (the one-hot models; 302 = 300 bp + [CLS]/[SEP]), and the MFU: the analytic FLOPs of
   training/flops.py (attention included) per second over the GPU's dense bf16 peak (PEAK_BF16_TFLOPS).
4. a fine-tune of `--steps` steps (default 200) on gue/prom_core_tata (shipped in data/) through train.py
   (DNABERT-2 on single-nucleotide tokens: the published BPE tokenizer is not needed offline), with its
   test MCC and seconds.
It prints one table and writes it (markdown) to --out. Without CUDA it refuses unless `--device cpu`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification

# run as a script, the repository root is not on sys.path: the first-party imports below need it first
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modeling  # noqa: E402, F401  (registers the models; after the sys.path set-up)
from dnalm_core.registry import MODELS  # noqa: E402
from training.flops import train_flops  # noqa: E402

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from NVIDIA's data sheets: H100 SXM5 989.4 and PCIe 756
# (H100 Tensor Core GPU datasheet), H200 989 (same Hopper SM count and clocks as the H100 SXM), A100 312
# (A100 datasheet). Matched against torch.cuda.get_device_name() in this order.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0))
PRESETS = {"dnabert2": ("117m", "tiny"), "convnova": ("hg38_pretrain", "tiny"), "unet": ("paper", "small")}
# Fine-tuning learning rates: the middle of each random-init arm's sweep in configs/grid_paper.yaml.
LEARNING_RATES = {"dnabert2": 1e-4, "convnova": 1e-3, "unet": 3e-3}


def peak_tflops(device: str) -> tuple[str, float | None]:
    if device != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name()
    return name, next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def build(model: str, preset: str, device: str):
    config = MODELS.get(model).config(preset, num_labels=2)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config).to(device), config


def batch(model: str, config, size: int, length: int, device: str) -> dict:
    g = torch.Generator().manual_seed(1)
    if model == "dnabert2":  # BPE ids past the 5 special tokens
        ids = torch.randint(5, config.vocab_size, (size, length), generator=g)
    else:
        nts = torch.tensor(config.nucleotide_token_ids)
        ids = nts[torch.randint(0, len(nts), (size, length), generator=g)]
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "labels": torch.randint(0, 2, (size,), generator=g).to(device),
    }


def bf16_check(net, inputs: dict, device: str) -> str:
    net.eval()
    with torch.no_grad():
        ref = net(**inputs).logits.float()
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            low = net(**inputs).logits.float()
    rel = (low - ref).abs().max().item() / max(ref.abs().max().item(), 1e-12)
    agree = (low.argmax(-1) == ref.argmax(-1)).float().mean().item()
    return f"max abs(bf16 - fp32) / max abs(fp32) = {rel:.2e}; predictions agree {100 * agree:.0f}%"


def attention_backends(net, inputs: dict, device: str) -> str:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    net.eval()
    out = [f"attn_implementation={net.config._attn_implementation}"]
    for backend in (
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.CUDNN_ATTENTION,
        SDPBackend.MATH,
    ):
        try:
            with sdpa_kernel(backend), torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
                net(**inputs)
            out.append(f"{backend.name}: runs")
        except RuntimeError as err:  # the backend refuses these inputs (mask, dtype, device): that is the finding
            out.append(f"{backend.name}: refused ({str(err).splitlines()[0][:60]})")
    return "; ".join(out)


def throughput(net, config, inputs: dict, device: str, steps: int, peak: float | None) -> str:
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    size, length = inputs["input_ids"].shape
    flops = train_flops(config, [length] * size, "classification")

    def step():
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = net(**inputs).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):  # warm-up: kernel selection, allocator
        step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    per_step = (time.perf_counter() - t0) / steps
    achieved = flops / per_step / 1e12
    mfu = f"MFU {100 * achieved / peak:.1f}%" if peak else "MFU n/a (no GPU peak)"
    return (
        f"{size}x{length}: {size * length / per_step:,.0f} tokens/s, {1e3 * per_step:.1f} ms/step, "
        f"{flops / 1e9:.4g} GFLOP/step, {achieved:.4g} TFLOP/s, {mfu}"
    )


def finetune(model: str, preset: str, device: str, steps: int, workdir: Path) -> str:
    import train

    out = workdir / f"{model}-{preset}"
    argv = [
        "--model",
        model,
        "--preset",
        preset,
        "--tokenizer",
        "char",
        "--task",
        "gue/prom_core_tata",
        "--data_dir",
        str(ROOT / "data"),
        "--max_steps",
        str(steps),
        "--per_device_train_batch_size",
        "32",
        "--per_device_eval_batch_size",
        "128",
        "--learning_rate",
        str(LEARNING_RATES[model]),
        "--warmup_steps",
        "0.1",
        "--eval_strategy",
        "no",
        "--save_strategy",
        "no",
        "--load_best_model_at_end",
        "false",
        "--logging_steps",
        str(max(1, steps // 4)),
        "--disable_tqdm",
        "true",
        "--report_to",
        "none",
        "--dataloader_num_workers",
        "0",
        "--output_dir",
        str(out),
        "--seed",
        "1",
        *(["--bf16", "true"] if device == "cuda" else ["--use_cpu", "true"]),
    ]
    t0 = time.perf_counter()
    rc = train.main(argv)
    if rc != 0:
        return f"train.py exited {rc}"
    rec = json.loads((out / "results.json").read_text())
    mcc = rec["metrics"]["test"]["mcc"]
    return (
        f"{rec['cost']['global_steps']} steps: test MCC {mcc:.3f}, train {rec['cost']['train_seconds']:.1f} s, "
        f"whole run {time.perf_counter() - t0:.1f} s"
    )


def run_checks(args) -> tuple[str, list[tuple[str, str, str]]]:
    """(device name, [(model, check, result)])."""
    name, peak = peak_tflops(args.device)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for model, (paper, tiny) in PRESETS.items():
            preset = tiny if args.tiny else paper
            label = f"{model} {preset}"
            net, config = build(model, preset, args.device)
            length = args.bert_len if model == "dnabert2" else args.conv_len
            inputs = batch(model, config, args.batch, length, args.device)
            rows.append((label, "bf16 vs fp32", bf16_check(net, inputs, args.device)))
            if model == "dnabert2":
                rows.append((label, "SDPA backend", attention_backends(net, inputs, args.device)))
            rows.append((label, "train step", throughput(net, config, inputs, args.device, args.steps, peak)))
            del net
            if args.device == "cuda":
                torch.cuda.empty_cache()
            rows.append(
                (
                    label,
                    f"fine-tune {args.steps} steps, prom_core_tata",
                    finetune(model, preset, args.device, args.steps, Path(tmp)),
                )
            )
    return name, rows


def table(name: str, rows: list[tuple[str, str, str]]) -> str:
    lines = [f"gpu_check on {name}, torch {torch.__version__}", "", "| model | check | result |", "| --- | --- | --- |"]
    lines += [f"| {m} | {c} | {r} |" for m, c, r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--steps", type=int, default=200, help="timed train steps, and the fine-tune's steps")
    ap.add_argument("--tiny", action="store_true", help="tiny presets (the CPU dry path)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bert-len", type=int, default=128)
    ap.add_argument("--conv-len", type=int, default=302)
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: error: no CUDA device here (torch.cuda.is_available() is False); this check is for a GPU "
            "machine. Its dry path runs anywhere: --device cpu --steps 2 --tiny",
            file=sys.stderr,
        )
        return 2
    if args.steps < 1 or not math.isfinite(args.steps):
        ap.error("--steps must be at least 1")
    name, rows = run_checks(args)
    text = table(name, rows)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train-step throughput of ConvNova: ours, its plain-PyTorch baseline, and optionally the official `CNNModel`.

One step = forward + MLM loss + backward + AdamW step (lr 1e-3, weight decay 0, as in the official hg38
pretraining config), fp32, on CPU unless --device says otherwise. Input: random A/C/G/T sequences of
--length bp with 15% of the positions selected for MLM (80% [MASK], 10% random base, 10% unchanged, applied
once), as bare nucleotide sequences, which is what the official model sees (with [CLS]/[SEP] added, ours gives
the same outputs at the nucleotide positions; --framed times that variant).

Baseline "plain": the same model and weights with every convolution run as a plain `nn.Conv1d` module call
between transposes (`conv(x.transpose(1, 2)).transpose(1, 2)`), i.e. without the CPU kernel
`_ChannelsLastConv1d`; the printed ratio plain / ours is what that kernel earns (--no-plain skips it).

With --reference DIR (a checkout of aim-uofa/ConvNova, supplied by the user; nothing of it is copied here),
the official `CNNModel` is imported by file path from DIR/convnova/src/models/ConvNova/convnova.py (or
DIR/convnova/src/models/sequence/convnova.py), given our initial weights, and timed in the same process on the
same batches, alternating step by step so that both see the same machine load. Printed: max abs difference of
the MLM logits, the loss and the gradients before training, bp/s of each (median over steps) and the ratio.

    python benchmarks/convnova_speed.py                      # ours vs plain, 32 x 1024 bp, hg38_pretrain
    python benchmarks/convnova_speed.py --threads 1 --timer cpu --batch 8 --steps 7   # steadier on a busy machine
    python benchmarks/convnova_speed.py --reference /tmp/convnova_ref
    python benchmarks/convnova_speed.py --reference /tmp/convnova_ref --batch 8 --steps 3   # quick
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import modeling  # noqa: E402,F401  (registers the models)
from dnalm_core.registry import MODELS  # noqa: E402
from modeling.convnova import ConvNovaConfig, ConvNovaForMaskedLM  # noqa: E402

OFFICIAL_PATHS = ("convnova/src/models/ConvNova/convnova.py", "convnova/src/models/sequence/convnova.py")


def load_official_class(reference: Path):
    for rel in OFFICIAL_PATHS:
        path = reference / rel
        if path.is_file():
            spec = importlib.util.spec_from_file_location("official_convnova", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.CNNModel, path
    raise SystemExit(f"no official ConvNova model under {reference}: looked for {', '.join(OFFICIAL_PATHS)}")


def make_batch(cfg: ConvNovaConfig, batch: int, length: int, generator: torch.Generator):
    """Official ids (A0 C1 G2 T3, mask = N = 4), our char-tokenizer ids, and MLM labels in both spaces."""
    bases = torch.randint(0, 4, (batch, length), generator=generator)
    selected = torch.rand(batch, length, generator=generator) < 0.15
    roll = torch.rand(batch, length, generator=generator)
    corrupted = bases.clone()
    corrupted[selected & (roll < 0.8)] = 4  # [MASK] -> N, as the official pretraining does
    random_base = selected & (roll >= 0.8) & (roll < 0.9)
    corrupted[random_base] = torch.randint(0, 4, (int(random_base.sum()),), generator=generator)
    nuc = torch.tensor(cfg.nucleotide_token_ids)
    ours = nuc[corrupted]
    ours[corrupted == 4] = cfg.mask_token_id  # ours reads [MASK] as N too
    labels_official = torch.where(selected, bases, torch.full_like(bases, -100))
    labels_ours = torch.where(selected, nuc[bases], torch.full_like(bases, -100))
    return corrupted, ours, labels_official, labels_ours


class PlainConv1d(torch.nn.Conv1d):
    """An `nn.Conv1d` that ConvNova's fast-path test (`type(conv) is nn.Conv1d`) does not match, so the model runs
    it as a plain module call between transposes: the baseline without `_ChannelsLastConv1d`."""


def plain_copy(model: ConvNovaForMaskedLM) -> ConvNovaForMaskedLM:
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if type(module) is torch.nn.Conv1d:
            module.__class__ = PlainConv1d
    return plain


def official_state_dict(model: ConvNovaForMaskedLM) -> dict[str, torch.Tensor]:
    sd = {k: v.detach().clone() for k, v in model.convnova.state_dict().items()}
    sd.update({"out_linear." + k: v.detach().clone() for k, v in model.out_linear.state_dict().items()})
    return sd


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="hg38_pretrain", choices=sorted(MODELS.get("convnova").presets))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--steps", type=int, default=5, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--timer",
        default="wall",
        choices=("wall", "cpu"),
        help="wall clock, or this process's CPU time (steadier on a shared machine at --threads 1)",
    )
    p.add_argument("--framed", action="store_true", help="ours gets [CLS] seq [SEP] (official: bare sequence)")
    p.add_argument("--no-plain", action="store_true", help="do not time the plain-PyTorch baseline")
    p.add_argument("--reference", type=Path, default=None, help="checkout of aim-uofa/ConvNova")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)

    cfg = MODELS.get("convnova").config(a.preset)
    ours = ConvNovaForMaskedLM(cfg).to(device).train()
    gen = torch.Generator().manual_seed(a.seed)
    batches = [make_batch(cfg, a.batch, a.length, gen) for _ in range(a.warmup + a.steps)]
    if a.framed:
        cls = torch.full((a.batch, 1), cfg.cls_token_id)
        sep = torch.full((a.batch, 1), cfg.sep_token_id)
        ign = torch.full((a.batch, 1), -100)
        batches = [(o, torch.cat([cls, x, sep], 1), lo, torch.cat([ign, y, ign], 1)) for o, x, lo, y in batches]
    batches = [tuple(t.to(device) for t in b) for b in batches]

    official = None
    if a.reference is not None:
        CNNModel, path = load_official_class(a.reference)
        args = types.SimpleNamespace(hidden_dim=cfg.hidden_size, num_cnn_stacks=cfg.num_stacks, dropout=cfg.dropout)
        official = CNNModel(
            args,
            5,
            pretrain=True,
            dilation=cfg.dilation_base,
            kernel_size=cfg.kernel_size,
            num_conv1d=cfg.num_conv_blocks,
            d_inner=cfg.d_inner,
            final_conv=cfg.final_conv,
            ffn=cfg.ffn,
        )
        official.load_state_dict(official_state_dict(ours))
        official.to(device).train()
        print(f"official CNNModel: {path}")

    nuc = torch.tensor(cfg.nucleotide_token_ids, device=device)

    def ours_forward(b):
        out = ours(input_ids=b[1], labels=b[3])
        return out.loss, out.logits

    def official_forward(b):
        out, _ = official((b[0], None))
        logits = out.logits[0]
        return F.cross_entropy(logits.reshape(-1, 5), b[2].reshape(-1), ignore_index=-100), logits

    if official is not None:
        b = batches[0]
        loss_o, logits_o = ours_forward(b)
        loss_r, logits_r = official_forward(b)
        sel = slice(1, -1) if a.framed else slice(None)
        diff = (logits_o[:, sel].index_select(-1, nuc) - logits_r).abs().max().item()
        loss_o.backward()
        loss_r.backward()
        grads_r = dict(official.named_parameters())
        gdiff = grel = 0.0
        for name, param in ours.named_parameters():
            ref = grads_r[name.removeprefix("convnova.")].grad
            gdiff = max(gdiff, (param.grad - ref).abs().max().item())
            grel = max(grel, ((param.grad - ref).abs().max() / ref.abs().max()).item())
        ours.zero_grad()
        official.zero_grad()
        print(
            f"equal outputs: max |logits diff| {diff:.3g} (|logits| max {logits_r.abs().max().item():.3g}), "
            f"loss {loss_o.item():.7f} vs {loss_r.item():.7f}, max |grad diff| {gdiff:.3g} "
            f"(at most {grel:.2g} of the tensor's largest gradient)"
        )

    def make_step(model, forward):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)

        def step(b):
            loss, _ = forward(b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    runs = {"ours": make_step(ours, ours_forward)}
    if not a.no_plain:
        plain = plain_copy(ours)

        def plain_forward(b):
            out = plain(input_ids=b[1], labels=b[3])
            return out.loss, out.logits

        with torch.no_grad():
            diff = (ours_forward(batches[0])[1] - plain_forward(batches[0])[1]).abs().max().item()
        print(f"plain baseline: max |logits diff| vs ours {diff:.3g}")
        runs["plain"] = make_step(plain, plain_forward)
    if official is not None:
        runs["official"] = make_step(official, official_forward)
    clock = time.perf_counter if a.timer == "wall" else time.process_time
    times = {name: [] for name in runs}
    for i, b in enumerate(batches):
        for name, step in runs.items():  # alternate: every model sees the same machine load
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = clock()
            step(b)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= a.warmup:
                times[name].append(clock() - t0)

    bp = a.batch * a.length
    print(
        f"preset {a.preset} ({sum(p.numel() for p in ours.parameters()):,} params), batch {a.batch} x {a.length} bp, "
        f"fp32 {device.type}, {torch.get_num_threads()} threads, {a.steps} timed steps (+{a.warmup} warm-up), "
        f"{a.timer} time" + (", ours framed with [CLS]/[SEP]" if a.framed else "")
    )
    med = {}
    for name, ts in times.items():
        med[name] = statistics.median(ts)
        print(
            f"{name:9s} step median {med[name]:.3f} s (min {min(ts):.3f}, max {max(ts):.3f}): "
            f"{bp / med[name]:,.0f} bp/s"
        )
    for name in ("plain", "official"):
        if name in med:
            print(
                f"speed-up ours / {name}: {med[name] / med['ours']:.2f}x (median); "
                f"{min(times[name]) / min(times['ours']):.2f}x (best step)"
            )


if __name__ == "__main__":
    main()

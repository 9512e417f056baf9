"""Convert official ConvNova checkpoints (aim-uofa/ConvNova, class `CNNModel`) to this suite's ConvNova models.

Kept apart from `convnova.py` the way transformers keeps `convert_*.py` apart from `modeling_*.py`: the model file
knows nothing of the official code's arguments or checkpoint layout.

- `config_from_official_args(...)`: the `ConvNovaConfig` of an official `CNNModel(args, alphabet_size, ...)`,
  e.g. from the `model:` section of an official experiment yaml.
- `load_official_state_dict(model, state_dict)`: official weights (a plain `CNNModel.state_dict()` or a
  PyTorch-Lightning checkpoint) into a `ConvNovaModel`, `ConvNovaForMaskedLM` or
  `ConvNovaForSequenceClassification`; the outputs then equal the official ones (tested on the golden outputs in
  `../shared/data/parity/convnova_tiny`).
- The command line does both and writes a folder that `AutoModel*.from_pretrained` reads, with the char
  tokenizer the converted model expects:

    python -m modeling.convert_convnova last.ckpt configs/experiment/hg38-pretrain/convnova.yaml out/convnova-hg38

No official weights have been published (reference-architectures.md section 2.8): the checkpoint is the user's.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .convnova import ConvNovaConfig, ConvNovaForMaskedLM, ConvNovaForSequenceClassification, ConvNovaModel
from .nucleotide import NUM_NUCLEOTIDE_CHANNELS

logger = logging.getLogger(__name__)

_LIGHTNING_BACKBONE_PREFIX = "model."  # SequenceLightningModule.model
_OFFICIAL_MLM_HEAD = "out_linear."  # CNNModel(pretrain=True).out_linear
_OFFICIAL_CLF_HEAD = "decoder.0.output_transform."  # SequenceDecoder(mode="pool").output_transform
_HEADS = {"backbone": ConvNovaModel, "mlm": ConvNovaForMaskedLM, "classification": ConvNovaForSequenceClassification}


def config_from_official_args(
    hidden_dim: int | None = None,
    num_cnn_stacks: int | None = None,
    dropout: float | None = None,
    *,
    args: Any = None,
    alphabet_size: int = NUM_NUCLEOTIDE_CHANNELS,
    for_representation: bool = False,
    pretrain: bool = False,
    dilation: int = 2,
    kernel_size: int = 9,
    num_conv1d: int = 5,
    d_inner: int = 2,
    final_conv: bool = False,
    ffn: bool = True,
    d_model: int | None = None,
    _name_: str = "convnova",
    **config_kwargs,
) -> ConvNovaConfig:
    """The config of an official `CNNModel(args, alphabet_size, ..., **kwargs)`.

    Takes the official constructor's arguments with the official defaults (note `dilation=2` there; every
    shipped experiment sets 4). `args` holds hidden_dim, num_cnn_stacks and dropout as in the official
    code (a namespace or a dict); they may also be given directly. So the `model:` section of an official
    experiment yaml can be passed as keyword arguments. `for_representation` and `pretrain` choose the
    official output head; here the model class does (`ConvNovaModel` / `ConvNovaForMaskedLM` /
    `ConvNovaForSequenceClassification`), so they are accepted and not stored. Other keyword arguments
    must be `ConvNovaConfig` fields (e.g. `num_labels`, `vocab_size`).
    """
    if args is not None:
        given = dict(args) if isinstance(args, Mapping) else vars(args)
        for name, value in (("hidden_dim", hidden_dim), ("num_cnn_stacks", num_cnn_stacks), ("dropout", dropout)):
            if name in given and value is not None and given[name] != value:
                raise ValueError(
                    f"{name} given twice with different values: args.{name}={given[name]!r}, {name}={value!r}"
                )
        hidden_dim = given.get("hidden_dim", hidden_dim)
        num_cnn_stacks = given.get("num_cnn_stacks", num_cnn_stacks)
        dropout = given.get("dropout", dropout)
    required = (("hidden_dim", hidden_dim), ("num_cnn_stacks", num_cnn_stacks), ("dropout", dropout))
    missing = [name for name, value in required if value is None]
    if missing:
        raise ValueError(
            f"the official CNNModel needs args.{', args.'.join(missing)} (pass them directly or in `args`)"
        )
    if alphabet_size != NUM_NUCLEOTIDE_CHANNELS:
        raise ValueError(
            f"ConvNova's official alphabet is A C G T N (alphabet_size=5), got alphabet_size={alphabet_size}"
        )
    if _name_ != "convnova":
        raise ValueError(f"not a ConvNova model config: _name_={_name_!r}")
    if d_model is not None and d_model != hidden_dim:
        # The official CNNModel ignores d_model (it uses args.hidden_dim everywhere); so do we, loudly.
        logger.warning(
            "official config has d_model=%s but args.hidden_dim=%s; CNNModel uses hidden_dim", d_model, hidden_dim
        )
    fields = set(inspect.signature(ConvNovaConfig).parameters) | {"num_labels"}
    unknown = sorted(set(config_kwargs) - fields)
    if unknown:
        raise TypeError(f"unknown arguments {unknown}: neither official CNNModel arguments nor ConvNovaConfig fields")
    return ConvNovaConfig(
        hidden_size=hidden_dim,
        num_stacks=num_cnn_stacks,
        dropout=dropout,
        dilation_base=dilation,
        kernel_size=kernel_size,
        num_conv_blocks=num_conv1d,
        d_inner=d_inner,
        final_conv=final_conv,
        ffn=ffn,
        **config_kwargs,
    )


def load_official_state_dict(model: ConvNovaModel, state_dict: Mapping[str, Any]) -> dict[str, list[str]]:
    """Load official ConvNova weights into `model`; afterwards its outputs equal the official ones.

    `state_dict` is a plain `CNNModel.state_dict()` (keys `linear.weight`, ..., `out_linear.*` when
    pretrained) or a PyTorch-Lightning checkpoint, either the whole `torch.load(ckpt)` dict or its
    `"state_dict"` (backbone keys prefixed `model.`, fine-tuning head `decoder.0.output_transform.*`).

    Every backbone tensor must be present, with the shape of `model.config`, and every key must be a known
    official key (backbone, `out_linear`, or the Lightning decoder); otherwise KeyError/ValueError, listing them.
    Heads: `out_linear` loads into `ConvNovaForMaskedLM.out_linear` (required there); the decoder loads into
    `ConvNovaForSequenceClassification.classifier` when present (otherwise the classifier keeps its
    initialization: fine-tuning from a pretrained backbone). A head the target model does not have is dropped,
    as the official `load_backbone` does when fine-tuning from a pretraining checkpoint.

    Returns {"loaded": our parameter names, "dropped": official keys not used, "not_loaded": our parameter
    names left at their initialization}.
    """
    if not isinstance(model, tuple(_HEADS.values())):
        raise TypeError(f"expected a ConvNova model, got {type(model).__name__}")
    if isinstance(state_dict.get("state_dict"), Mapping):  # a whole Lightning checkpoint
        state_dict = state_dict["state_dict"]
    non_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise ValueError(f"not a state dict: entries {non_tensors[:5]} are not tensors")
    lightning = any(k.startswith(_LIGHTNING_BACKBONE_PREFIX) for k in state_dict)
    official_prefix = _LIGHTNING_BACKBONE_PREFIX if lightning else ""

    backbone = model.base_model
    prefix = "" if backbone is model else model.base_model_prefix + "."
    targets = {official_prefix + name: prefix + name for name in backbone.state_dict()}  # official key -> ours
    mlm, clf = isinstance(model, ConvNovaForMaskedLM), isinstance(model, ConvNovaForSequenceClassification)
    heads = {}  # official key -> our parameter name, or None when this model has no such head
    for suffix in ("weight", "bias"):
        heads[official_prefix + _OFFICIAL_MLM_HEAD + suffix] = f"out_linear.{suffix}" if mlm else None
        heads[_OFFICIAL_CLF_HEAD + suffix] = f"classifier.{suffix}" if clf else None

    unexpected = sorted(k for k in state_dict if k not in targets and k not in heads)
    missing = sorted(k for k in targets if k not in state_dict)
    if mlm:
        # the MLM head is required there: without it the logits would be those of an untrained head
        missing += sorted(
            k for k, ours in heads.items() if ours and ours.startswith("out_linear") and k not in state_dict
        )
    if missing or unexpected:
        cfg = model.config
        raise KeyError(
            f"official ConvNova state dict does not match this config (hidden {cfg.hidden_size}, "
            f"{cfg.num_conv_blocks}x{cfg.num_stacks} blocks, ffn={cfg.ffn}, final_conv={cfg.final_conv}): "
            f"missing {missing}, unexpected {unexpected}"
        )

    params = dict(model.named_parameters())
    plan = dict(targets)
    plan.update({k: v for k, v in heads.items() if v is not None and k in state_dict})
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} vs {tuple(params[ours].shape)}"
        for k, ours in plan.items()
        if state_dict[k].shape != params[ours].shape
    ]
    if mismatched:
        raise ValueError(f"shape mismatch between the official state dict and this model: {mismatched}")
    with torch.no_grad():  # only after every check passed: a failed call leaves the model as it was
        for k, ours in plan.items():
            params[ours].copy_(state_dict[k])
    loaded = sorted(plan.values())
    return {
        "loaded": loaded,
        "dropped": sorted(k for k, v in heads.items() if v is None and k in state_dict),
        "not_loaded": sorted(set(params) - set(loaded)),
    }


# ----------------------------------------------------------------------------------------- command line


def read_official_checkpoint(path: str | Path, allow_pickle: bool = False) -> Mapping[str, Any]:
    """A Lightning `.ckpt`, a `torch.save`d state dict or a `.safetensors` file, as a mapping of tensors.

    `torch.load` runs with `weights_only=True` unless `allow_pickle`: a Lightning checkpoint may pickle
    arbitrary objects (e.g. its Hydra config), and unpickling those runs code, so only do that for a trusted file.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:
        raise SystemExit(
            f"{path} holds more than tensors and plain containers, so it was not unpickled (weights_only=True). "
            "If you trust the file, pass --allow-pickle."
        ) from e
    return checkpoint.get("state_dict", checkpoint)


def read_official_model_config(path: str | Path) -> dict[str, Any]:
    """The `model:` section of an official experiment yaml (or the whole file when it has none)."""
    import yaml

    config = yaml.safe_load(Path(path).read_text())
    model = config.get("model", config) if isinstance(config, Mapping) else None
    if not isinstance(model, Mapping):
        raise SystemExit(f"{path}: expected a mapping with a `model:` section (an official experiment yaml)")
    return dict(model)


def _head_of(state_dict: Mapping[str, Any]) -> str:
    """The head an official checkpoint carries: the MLM `out_linear`, the fine-tuning decoder, or none."""
    if any(k.removeprefix(_LIGHTNING_BACKBONE_PREFIX).startswith(_OFFICIAL_MLM_HEAD) for k in state_dict):
        return "mlm"
    if any(k.startswith(_OFFICIAL_CLF_HEAD) for k in state_dict):
        return "classification"
    return "backbone"


def convert(checkpoint, model_config, output, head=None, num_labels=None, allow_pickle=False):
    """Official checkpoint + official experiment yaml -> a `save_pretrained` folder (with the char tokenizer)."""
    state_dict = read_official_checkpoint(checkpoint, allow_pickle)
    head = head or _head_of(state_dict)
    overrides = {}
    if head == "classification":
        decoder = state_dict.get(_OFFICIAL_CLF_HEAD + "weight")
        overrides["num_labels"] = num_labels or (decoder.shape[0] if decoder is not None else 2)
    config = config_from_official_args(**read_official_model_config(model_config), **overrides)
    model = _HEADS[head](config)
    report = load_official_state_dict(model, state_dict)
    model.save_pretrained(output)

    from .tokenization import char_tokenizer  # the ids the converted model reads (A C G T N = 5..9)

    char_tokenizer().save_pretrained(output)
    return model, report


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m modeling.convert_convnova",
        description="Convert an official ConvNova checkpoint (aim-uofa/ConvNova CNNModel) to a save_pretrained "
        "folder that AutoModel / AutoModelForMaskedLM / AutoModelForSequenceClassification load.",
    )
    p.add_argument("checkpoint", type=Path, help="Lightning .ckpt, torch.save'd state dict, or .safetensors")
    p.add_argument(
        "config",
        type=Path,
        help="the official experiment yaml the checkpoint was trained with "
        "(its model: section), e.g. configs/experiment/hg38-pretrain/convnova.yaml",
    )
    p.add_argument("output", type=Path, help="folder to write (config.json, model.safetensors, tokenizer files)")
    p.add_argument(
        "--head",
        choices=sorted(_HEADS),
        default=None,
        help="model class to build (default: from the checkpoint: out_linear -> mlm, "
        "Lightning decoder -> classification, neither -> backbone)",
    )
    p.add_argument(
        "--num-labels",
        type=int,
        default=None,
        help="classification: number of labels (default: the decoder's, or 2 without one)",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="unpickle a checkpoint that holds more than tensors (runs code: trusted files only)",
    )
    a = p.parse_args(argv)
    model, report = convert(a.checkpoint, a.config, a.output, a.head, a.num_labels, a.allow_pickle)
    print(
        f"{type(model).__name__}: {len(report['loaded'])} tensors loaded, "
        f"dropped {report['dropped'] or 'none'}, left at initialization {report['not_loaded'] or 'none'}"
    )
    print(f"saved to {a.output}")


if __name__ == "__main__":
    main()

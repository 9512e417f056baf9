"""Convert a DNABERT-2 folder in the published layout into a native `transformers` folder.

The published DNABERT-2-117M (Hub repo `zhihan1996/DNABERT-2-117M`) is laid out for remote code: its
`config.json` has no `model_type` and an `auto_map` to `bert_layers.py`, so the Auto classes and pipelines
cannot read it without `trust_remote_code` (and that code needs transformers 4.29). Our classes read the
folder as it is (`DNABert2ForMaskedLM.from_pretrained(SRC)`); this command writes it out once in the
native layout, which `AutoModel*`, `AutoTokenizer` and `pipeline` read after `import modeling`:

    python -m modeling.convert_dnabert2 path/to/DNABERT-2-117M dnabert2-117m
    python -m modeling.convert_dnabert2 path/to/DNABERT-2-117M dnabert2-117m --push-to-hub you/DNABERT-2-117M

SRC holds `config.json` (no `model_type`), `pytorch_model.bin` or `model.safetensors` (a `BertForMaskedLM`
state dict) and `tokenizer.json` (+ `tokenizer_config.json`). DST gets `model.safetensors` (the same tensors
under the same names, the tied decoder stored once), `config.json` (`model_type: dnabert2`, its `auto_map`
naming the model code the folder carries instead of the reference's), the tokenizer saved by our
`DNATokenizerFast` (same ids, its code carried too), a model card `README.md` (provenance, license,
paper, usage; template `hub_cards/converted_model_card.md`) and SRC's `LICENSE`.

DST is never overwritten (an existing non-empty DST is an error). The folder is written as a hidden sibling
of DST, reloaded through the Auto classes and compared with SRC (every tensor, the token ids of a probe), and
only then renamed to DST, so a failure leaves no DST behind. `--push-to-hub REPO_ID` then uploads it; the
Hub is checked before anything is converted, so offline the command fails at once and says what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import uuid
from pathlib import Path

import huggingface_hub
import torch
import transformers
from huggingface_hub import ModelCard, ModelCardData
from transformers import AutoModelForMaskedLM, AutoTokenizer

from .dnabert2 import DNABert2ForMaskedLM
from .tokenization import load_tokenizer

PUBLISHED_REPO = "zhihan1996/DNABERT-2-117M"
# The published pytorch_model.bin (468,354,983 bytes), from its Git LFS pointer at the Hub commit d064dec.
PUBLISHED_BIN_SHA256 = "7ff39ec77a484dd01070a41bfd6e95cdd7247bec80fe357ab43a4be33687aeba"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # the order from_pretrained prefers them in
CARD_TEMPLATE = Path(__file__).resolve().parents[1] / "hub_cards" / "converted_model_card.md"
# A probe for the tokenizer check: several BPE merges, an N (-> [UNK]) and lower case (the input policy).
PROBE = "TATAAAAGGCCGCTGACGTTAGCNNACGTacgtTTGACAGGATCTATCTTTT"


def find_weights(src: Path) -> Path:
    """The weights file of a folder in the published layout; an error naming what is missing otherwise."""
    if not src.is_dir():
        raise FileNotFoundError(
            f"{src} is not a folder: pass the downloaded DNABERT-2 repository, e.g. the folder that "
            f"huggingface_hub.snapshot_download({PUBLISHED_REPO!r}) returns"
        )
    missing = [name for name in ("config.json", "tokenizer.json") if not (src / name).is_file()]
    weights = next((src / name for name in WEIGHT_FILES if (src / name).is_file()), None)
    if weights is None:
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise FileNotFoundError(
            f"{src} is not a DNABERT-2 folder in the published layout: missing {', '.join(missing)} "
            f"(expected config.json, tokenizer.json and the weights, as in the Hub repo {PUBLISHED_REPO})"
        )
    model_type = json.loads((src / "config.json").read_text()).get("model_type")
    if model_type == "dnabert2":
        raise ValueError(
            f"{src} is already a native folder (model_type 'dnabert2'): load it with "
            "AutoModelForMaskedLM.from_pretrained after `import modeling`"
        )
    if model_type not in (None, "bert"):  # the first published upload said "bert"
        raise ValueError(f"{src / 'config.json'} has model_type {model_type!r}: not a DNABERT-2 config")
    return weights


def check_destination(dst: Path) -> None:
    """DST may be missing or an empty folder; anything else is the user's and stays as it is."""
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise FileExistsError(f"{dst} exists and is not empty; the converter never overwrites: choose another DST")


def convert(src: str | Path, dst: str | Path, repo_id: str | None = None) -> Path:
    """Write the native folder `dst` from the published-layout folder `src`; returns `dst`.

    `repo_id` is the name the model card's examples load from (default: the path `dst`).
    """
    src, dst = Path(src), Path(dst)
    weights = find_weights(src)
    check_destination(dst)
    model, info = DNABert2ForMaskedLM.from_pretrained(src, output_loading_info=True)
    wrong = {kind: info[kind] for kind in ("missing_keys", "unexpected_keys", "mismatched_keys") if info[kind]}
    if wrong:
        raise ValueError(f"{weights} is not a DNABERT-2 BertForMaskedLM state dict: {wrong}")
    tokenizer = load_tokenizer(src)

    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.parent / f".{dst.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if (src / "LICENSE").is_file():
            shutil.copyfile(src / "LICENSE", partial / "LICENSE")
        card = model_card(src, weights, model, repo_id or str(dst), (src / "LICENSE").is_file())
        card.save(partial / "README.md")
        check_native(partial, model, tokenizer)
        if dst.exists():
            dst.rmdir()  # empty: checked above
        partial.rename(dst)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dst


def check_native(folder: Path, model: DNABert2ForMaskedLM, tokenizer) -> None:
    """The folder reloads through the Auto classes as the source: same class, every tensor equal, same ids."""
    loaded = AutoModelForMaskedLM.from_pretrained(folder)
    if type(loaded) is not DNABert2ForMaskedLM:
        raise RuntimeError(f"{folder} reloads as {type(loaded).__name__}, not DNABert2ForMaskedLM")
    ours, theirs = model.state_dict(), loaded.state_dict()
    different = sorted(ours.keys() ^ theirs.keys())
    different += [name for name in ours.keys() & theirs.keys() if not torch.equal(ours[name], theirs[name])]
    if different:
        raise RuntimeError(f"the converted weights do not reload equal to the source: {different[:5]}")
    if AutoTokenizer.from_pretrained(folder)(PROBE)["input_ids"] != tokenizer(PROBE)["input_ids"]:
        raise RuntimeError("the converted tokenizer gives other ids than the source's tokenizer.json")


def model_card(src: Path, weights: Path, model: DNABert2ForMaskedLM, repo_id: str, has_license_file: bool):
    """README.md of the converted folder: where it came from, license, paper, how to load and use it."""
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            digest.update(block)
    sha256 = digest.hexdigest()
    verified = weights.name == "pytorch_model.bin" and sha256 == PUBLISHED_BIN_SHA256
    data = ModelCardData(
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="fill-mask",
        tags=["dna", "genomics", "biology", "dnabert2", "dnalm-assess"],
        # The Hub links a base model only when the weights are known to be the published ones.
        base_model=PUBLISHED_REPO if verified else None,
    )
    return ModelCard.from_template(
        data,
        template_path=str(CARD_TEMPLATE),
        title=f"{Path(repo_id).name}: DNABERT-2 in the native transformers format",
        repo_id=repo_id,
        source=str(src),
        origin=json.loads((src / "config.json").read_text()).get("_name_or_path"),
        weights_name=weights.name,
        sha256=sha256,
        verified=verified,
        published_repo=PUBLISHED_REPO,
        published_sha256=PUBLISHED_BIN_SHA256,
        config=model.config,
        num_parameters=model.num_parameters(),
        has_license_file=has_license_file,
        versions={
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "huggingface_hub": huggingface_hub.__version__,
        },
    )


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m modeling.convert_dnabert2",
        description="Convert a DNABERT-2 folder in the published layout (zhihan1996/DNABERT-2-117M: config.json "
        "without model_type, pytorch_model.bin or model.safetensors, tokenizer.json) into a native folder that "
        "AutoModelForMaskedLM, AutoTokenizer and pipeline load after `import modeling`.",
    )
    parser.add_argument("src", type=Path, help="the published-layout folder (downloaded repo)")
    parser.add_argument("dst", type=Path, help="the folder to write; must not exist or be empty")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="then upload DST to this Hub model repo")
    args = parser.parse_args(argv)
    try:
        find_weights(args.src)
        check_destination(args.dst)
        if args.push_to_hub:
            _check_hub(args.src, args.dst, args.push_to_hub)
        dst = convert(args.src, args.dst, repo_id=args.push_to_hub)
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"wrote {dst}: model.safetensors, config.json (model_type dnabert2), tokenizer, README.md")
    print(f"load it with: import modeling; transformers.AutoModelForMaskedLM.from_pretrained({str(dst)!r})")
    if args.push_to_hub:
        from dnalm_core.hub import HubUnreachableError, push_folder

        try:
            print(f"pushed: {push_folder(dst, args.push_to_hub)}")
        except HubUnreachableError as err:
            raise SystemExit(f"error: {err}") from None  # its message says how to upload DST later
    return dst


def _check_hub(src: Path, dst: Path, repo_id: str) -> None:
    """Fail before converting when the Hub cannot be reached: the conversion takes a while, the push would not."""
    from dnalm_core.hub import HubUnreachableError, check_hub_reachable  # only a push needs the Hub code

    try:
        check_hub_reachable()
    except HubUnreachableError as err:
        raise SystemExit(
            f"error: --push-to-hub {repo_id}: the Hub cannot be reached ({err}); nothing was converted. Offline, "
            f"convert without it (python -m modeling.convert_dnabert2 {src} {dst}) and upload from a machine with "
            f"Hub access later: `hf auth login`, then `hf upload {repo_id} {dst} .`"
        ) from None


if __name__ == "__main__":
    main()

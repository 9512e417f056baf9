"""dnalm-assess models and tokenizers.

Importing this package registers every model with the `transformers` Auto classes (so saved folders
load with `AutoModel*.from_pretrained(path)` and no `trust_remote_code`) and fills the model and
tokenizer registries of `dnalm_core.registry`, which `train.py`, the data scripts and the tests share.
The model files themselves know nothing of the suite's registry, so a saved folder can carry them as
remote code.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedConfig,
)

from dnalm_core.registry import MODELS, TOKENIZERS, ModelEntry, TokenizerEntry  # noqa: F401

from . import embeddings  # noqa: F401
from .basset import BASSET_PRESETS, BassetConfig, BassetForSequenceClassification, BassetModel
from .convnova import (
    CONVNOVA_PRESETS,
    ConvNovaConfig,
    ConvNovaForMaskedLM,
    ConvNovaForSequenceClassification,
    ConvNovaModel,
)
from .deepsea import DEEPSEA_PRESETS, DeepSEAConfig, DeepSEAForSequenceClassification, DeepSEAModel
from .dnabert2 import (
    DNABERT2_PRESETS,
    DNABert2Config,
    DNABert2ForMaskedLM,
    DNABert2ForSequenceClassification,
    DNABert2Model,
)
from .tokenization import DNATokenizerFast, bpe_tokenizer, char_tokenizer, kmer_tokenizer
from .unet import UNET_PRESETS, UNetConfig, UNetForMaskedLM, UNetForSequenceClassification, UNetModel


def _register(entry: ModelEntry, model_class, mlm_class, classifier_class) -> None:
    """Register a config and its models with the Auto classes and the suite's model registry, and make saved
    folders carry their code: `register_for_auto_class` copies the model file (and its relative imports) into
    every folder saved, and the family's full `auto_map` goes into its config, so the folder loads with
    `trust_remote_code=True` where this package is not installed. `mlm_class` None: a model without a masked-LM
    head (Basset, DeepSEA), which `entry.pretrainable` must then say."""
    if (mlm_class is None) == entry.pretrainable:
        raise ValueError(f"model {entry.name!r}: pretrainable={entry.pretrainable} but mlm_class is {mlm_class!r}")
    AutoConfig.register(entry.config_class.model_type, entry.config_class)
    AutoModel.register(entry.config_class, model_class)
    AutoModelForSequenceClassification.register(entry.config_class, classifier_class)
    MODELS.register(entry.name, entry)
    family = {
        "AutoConfig": entry.config_class,
        "AutoModel": model_class,
        "AutoModelForMaskedLM": mlm_class,
        "AutoModelForSequenceClassification": classifier_class,
    }
    if mlm_class is None:
        del family["AutoModelForMaskedLM"]
    else:
        AutoModelForMaskedLM.register(entry.config_class, mlm_class)
    for auto_class, cls in family.items():
        cls.register_for_auto_class(auto_class)
    module = model_class.__module__.rsplit(".", 1)[-1]  # the file name the folder will hold
    auto_map = {auto_class: f"{module}.{cls.__name__}" for auto_class, cls in family.items()}
    for cls in family.values():
        if cls is not entry.config_class:
            cls.family_auto_map = auto_map


_register(
    ModelEntry(
        name="dnabert2",
        config_class=DNABert2Config,
        presets=DNABERT2_PRESETS,
        default_preset="small",
        tokenizers=("bpe", "kmer", "char"),
        lora_target_modules=("Wqkv", "dense", "gated_layers", "wo"),
        description="DNABERT-2 (Zhou et al. 2023): ALiBi, GEGLU, post-LN BERT; loads the published weights",
    ),
    DNABert2Model,
    DNABert2ForMaskedLM,
    DNABert2ForSequenceClassification,
)
_register(
    ModelEntry(
        name="convnova",
        config_class=ConvNovaConfig,
        presets=CONVNOVA_PRESETS,
        default_preset="genomic_benchmark",
        tokenizers=("char",),
        # PEFT matches these as name suffixes. The block convolutions are ModuleList items ("convs.2"), so they
        # are listed by index, and only the undilated ones (blocks 0-2 in every preset): PEFT 0.21 builds a
        # LoRA conv's lora_A without the base layer's dilation, so a dilated target fails with a shape error
        # (huggingface/peft#3697). Plus the linears of the per-block FFN (if any) and of the final MLP. The
        # stems (5 input channels) and the LayerNorms are left to full training or freezing.
        lora_target_modules=tuple(f"{m}.{i}" for m in ("convs", "gates") for i in range(3))
        + tuple(f"mlpgroup2.{i}.0" for i in range(10))
        + ("milinear.0", "milinear.2", "milinear.4", "milinear.6"),
        description="ConvNova (ICLR 2025, arXiv:2502.18538): dilated gated CNN with a complement-strand gate branch",
    ),
    ConvNovaModel,
    ConvNovaForMaskedLM,
    ConvNovaForSequenceClassification,
)
_register(
    ModelEntry(
        name="unet",
        config_class=UNetConfig,
        presets=UNET_PRESETS,
        default_preset="small",
        tokenizers=("char",),
        # Every (non-transposed) Conv1d of the U-Net is named `conv`; PEFT's LoRA supports Conv1d.
        lora_target_modules=("conv",),
        description="1D U-Net (Ronneberger et al. 2015) over one-hot or embedded single nucleotides",
    ),
    UNetModel,
    UNetForMaskedLM,
    UNetForSequenceClassification,
)
# The two classic convolutional baselines: supervised networks with a fixed input window and no masked-LM head,
# so they are fine-tuned from random init only (train.py refuses --stage pretrain for them).
_register(
    ModelEntry(
        name="basset",
        config_class=BassetConfig,
        presets=BASSET_PRESETS,
        default_preset="small",
        tokenizers=("char",),
        pretrainable=False,
        # PEFT matches name suffixes: every convolution (`convs.i.conv`) and fully connected layer
        # (`hidden.i.dense`); the batch norms are left to full training or freezing.
        lora_target_modules=("conv", "dense"),
        description="Basset (Kelley et al. 2016, Genome Research): 3 conv + 2 fully connected layers, batch norm",
    ),
    BassetModel,
    None,
    BassetForSequenceClassification,
)
_register(
    ModelEntry(
        name="deepsea",
        config_class=DeepSEAConfig,
        presets=DEEPSEA_PRESETS,
        default_preset="small",
        tokenizers=("char",),
        pretrainable=False,
        lora_target_modules=("conv", "dense"),  # `convs.i.conv` and `hidden.dense`, as for Basset
        description="DeepSEA (Zhou & Troyanskaya 2015, Nature Methods): 3 conv + 1 fully connected layer",
    ),
    DeepSEAModel,
    None,
    DeepSEAForSequenceClassification,
)


# ------------------------------------------------------------------------------------- tokenizers


class _DNATokenizerRegistration(PreTrainedConfig):
    """Key under which DNATokenizerFast is registered with AutoTokenizer.

    `AutoTokenizer.register` needs a config class; the tokenizer families are not tied to one model, so a
    marker class holds the registration. What matters is the side effect: AutoTokenizer then resolves the
    `tokenizer_class: "DNATokenizerFast"` recorded in tokenizer_config.json without trust_remote_code.
    """

    model_type = "dnalm_tokenizer"


AutoTokenizer.register(_DNATokenizerRegistration, tokenizer_class=DNATokenizerFast, exist_ok=True)

# The one way to build a tokenizer by family name (train.py, the tests):
#   TOKENIZERS.get("char").build()
#   TOKENIZERS.get("kmer").build(k=6, overlapping=True)
#   TOKENIZERS.get("bpe").build(path="../shared/data/dnabert2")            # load (a folder or Hub id)
#   TOKENIZERS.get("bpe").build(sequences=seqs, vocab_size=4096, corpus_name="human")   # train
TOKENIZERS.register("char", TokenizerEntry("char", build=char_tokenizer, description="single nucleotide A C G T N"))
TOKENIZERS.register(
    "kmer",
    TokenizerEntry(
        "kmer", build=kmer_tokenizer, description="k-mers, k=1..8, overlapping (stride 1) or not (stride k)"
    ),
)
TOKENIZERS.register(
    "bpe",
    TokenizerEntry(
        "bpe", build=bpe_tokenizer, description="DNABERT-2-style BPE: loaded from path= or trained on sequences="
    ),
)

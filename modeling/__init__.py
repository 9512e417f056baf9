"""dnalm-assess models and tokenizers.

Importing this package registers every model with the `transformers` Auto classes (so saved folders
load with `AutoModel*.from_pretrained(path)` and no `trust_remote_code`) and fills the model and
tokenizer registries of `dnalm_core.registry`, which `train.py`, the data scripts and the tests share.
"""

from dnalm_core.registry import MODELS, TOKENIZERS  # noqa: F401

# Each line below imports one module, which registers its entries as a side effect.
from . import unet  # noqa: F401
from .unet import UNetConfig, UNetModel, UNetForMaskedLM, UNetForSequenceClassification  # noqa: F401
from . import convnova  # noqa: F401
from .convnova import ConvNovaConfig, ConvNovaModel, ConvNovaForMaskedLM, ConvNovaForSequenceClassification  # noqa: F401
from . import tokenization  # noqa: F401
from . import dnabert2  # noqa: F401
from .dnabert2 import DNABert2Config, DNABert2Model, DNABert2ForMaskedLM, DNABert2ForSequenceClassification  # noqa: F401
from . import embeddings  # noqa: F401

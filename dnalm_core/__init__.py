"""Torch-free pieces that every layer of the suite imports: the one registry of models, tokenizers,
tasks and corpora (`dnalm_core.registry`) and the DNA input policy (`dnalm_core.policy`).

Nothing here imports torch or model code, so `data_scripts/` can build datasets without loading it.
"""

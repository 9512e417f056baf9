"""Torch-free pieces that every layer of the suite imports: the one registry of models, tokenizers,
tasks and corpora (`dnalm_core.registry`), the task catalogue (`dnalm_core.tasks`), the DNA input
policy (`dnalm_core.policy`) and the Hub helpers (`dnalm_core.hub`).

Nothing here imports torch, model code or the other layers, so every layer can import it. Importing
the package fills `TASKS` with the catalogue: the tasks are data, and any module that looks one up
must find it without importing the data layer.
"""

from . import tasks  # noqa: F401  (fills registry.TASKS)

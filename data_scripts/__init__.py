"""Reproducible builders that package benchmark tasks as plain-parquet Hugging Face dataset repos.

`python -m data_scripts.build <gue|nt|gb> --source DIR --out DIR [--tasks ...]` writes a folder that is
a Hub dataset repository: `README.md` (dataset card with one config per task, label balance, split
sizes, build-time checks, citation, license), `dnalm_build.json` (the same numbers, machine-readable)
and `<task>/{train,validation,test}.parquet` with the columns `id`, `sequence`, `label` (ClassLabel).
`datasets.load_dataset(folder, "<task>")` reads it; `data_scripts.tasks.load_task("<benchmark>/<task>")`
finds it.

This package is the data layer and never imports torch or model code:
- `tasks`: task loading (`load_task`); the catalogue itself (labels, metrics, lengths, published numbers)
  is `dnalm_core.tasks`;
- `corpora`: the named pretraining corpora (`python -m data_scripts.corpora`);
- `fasta`: FASTA reading, window drawing, content hashes.
Importing it registers the corpora in `dnalm_core.registry.CORPORA`.

Modules: `gue`, `nt`, `genomic_benchmarks` read each benchmark's own files and implement the one
builder protocol (`common.Builder`); `gue.read_task_csv` is the one reader of GUE CSV files and
`fasta.text_lines` the one way FASTA files are opened; `common` holds the errors, the input policy, the
checks, the seeded validation split and the deterministic, atomic writer; `card` renders
`hub_cards/dataset_card.md`; `build` is the command line. See docs/datasets.md.
"""

from . import corpora  # noqa: F401  (registers the corpora)
from .common import BuildError  # noqa: F401

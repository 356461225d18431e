"""``elmbook``: what the book's chapters need beyond the library: figures, tables, the paper's
published numbers, and the aggregation and verdicts built on the results store.

It is a separate package (``book/pyproject.toml``, installed by ``requirements.txt``) because it
serves the chapters only: it imports :mod:`elm` and :mod:`elm.experiments`, never the reverse.
Modules: :mod:`~elmbook.chapter` (a chapter's set-up and its runs), :mod:`~elmbook.plots` (one
figure style, tables), :mod:`~elmbook.reference` (the paper's numbers, each citing its table),
:mod:`~elmbook.reproduction` (the reproduction notes' trained one-field changes),
:mod:`~elmbook.budgets` (the results snapshot's training beside the paper's),
:mod:`~elmbook.neuronio` and :mod:`~elmbook.ablations` (the NeuronIO chapters), :mod:`~elmbook.shd`
and :mod:`~elmbook.lra` (the SHD and LRA chapters).
"""

from pathlib import Path

#: The repository this book belongs to (the folder above ``book/``): its ``data/results`` store
#: and ``figures/`` folder are the chapters' defaults.
REPOSITORY = Path(__file__).resolve().parents[2]

"""Where datasets are found, in one place for every family.

Every reader resolves its folder the same way and returns a :class:`DataSource` (the folder and
the line that describes the data on a page), so a figure never has to guess what it was made
from. The order, for every family: the ``data_dir`` a caller passes, then ``$ELM_DATA_DIR/<family>``
(the layout ``python -m elm.data.fetch`` writes), then the real subset or stand-in that ships in
the repository's ``data/`` folder (:func:`repository_data`, present when ``elm`` runs from a
checkout), then a stand-in generated into :func:`cache_root`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

DATA_ENV = "ELM_DATA_DIR"
CACHE_ENV = "ELM_CACHE_DIR"


class DataSource(NamedTuple):
    """A dataset's folder and how to describe it (``folder, provenance = source`` unpacks it)."""

    folder: Path
    provenance: str


def env_data_dir(family: str) -> Path | None:
    """``$ELM_DATA_DIR/<family>`` when ``ELM_DATA_DIR`` is set (whether or not it exists)."""
    env = os.environ.get(DATA_ENV)
    return Path(env) / family if env else None


def repository_data(name: str) -> Path | None:
    """``data/<name>`` of the repository ``elm`` runs from, or None (an installed wheel).

    The one place where the library looks at the checkout around it: the committed stand-ins
    and real subsets live there, not in the package.
    """
    folder = Path(__file__).resolve().parents[2] / "data" / name
    return folder if folder.is_dir() else None


def cache_root() -> Path:
    """Folder for generated stand-ins: ``$ELM_CACHE_DIR`` or ``~/.cache/elm``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "elm")

"""Dataset readers (real formats) and offline stand-in generators, one module per family;
:mod:`elm.data.paths` (the data shipped in the repository's ``data/``, the cache, compressed
files) and :mod:`elm.data.released` (where the authors' released models are)."""

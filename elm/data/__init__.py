"""Dataset readers (real formats) and offline stand-in generators, one module per family."""

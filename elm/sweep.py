"""``python -m elm.sweep`` (``elm-sweep``): a grid of runs, :mod:`elm.experiments.sweep`."""

from elm.experiments.sweep import main

if __name__ == "__main__":
    raise SystemExit(main())

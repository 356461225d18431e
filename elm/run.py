"""``python -m elm.run`` (console script ``elm-run``): one run, :mod:`elm.experiments.run`."""

from elm.experiments.run import main

if __name__ == "__main__":
    raise SystemExit(main())

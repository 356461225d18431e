"""``elm.configs``: the stable import path of :mod:`elm.experiments.configs` (the same module).

Code written against ``from elm import configs`` keeps working; new code imports
``elm.experiments.configs``.
"""

import sys

from elm.experiments import configs as _configs

sys.modules[__name__] = _configs

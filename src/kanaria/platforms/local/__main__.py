"""`python -m kanaria.platforms.local`: the control plane process that `kanaria local up` starts.

Started through the package rather than `-m …controlplane`, so the control plane module is
imported once, under its own name: controllers named with `--controller` import it too, and
their `Controller` must be the very class the control plane checks.
"""

import sys

from kanaria.platforms.local.controlplane import main

sys.exit(main())

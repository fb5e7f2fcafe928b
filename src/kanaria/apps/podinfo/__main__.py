"""`python -m kanaria.apps.podinfo`: the command the image catalog runs for podinfo images."""

import sys

from kanaria.apps.podinfo.server import main

sys.exit(main())

"""`python -m kanaria.cli`."""

import sys

from kanaria.cli.main import main

sys.exit(main())

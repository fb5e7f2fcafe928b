"""`python -m kanaria`."""

import sys

from kanaria.cli.main import main

sys.exit(main())

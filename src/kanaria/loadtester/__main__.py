"""`python -m kanaria.loadtester`: the command the platforms run for the load tester image."""

import sys

from kanaria.loadtester.main import main

sys.exit(main())

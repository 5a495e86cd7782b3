"""``python -m oxify.cli``."""

import sys

from oxify.cli.main import main

sys.exit(main())

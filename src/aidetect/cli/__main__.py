"""``python -m aidetect.cli``."""

import sys

from aidetect.cli import main

sys.exit(main())

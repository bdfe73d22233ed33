"""``python -m dataengine`` is the ``dataengine`` command."""

import sys

from dataengine.cli import main

sys.exit(main())

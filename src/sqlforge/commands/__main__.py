"""`python -m sqlforge.commands ...`: the same as the `sqlforge` console script."""

import sys

from sqlforge.commands import main

sys.exit(main())

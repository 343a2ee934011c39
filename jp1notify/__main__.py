"""`python -m jp1notify`: the same as the `jp1notify` command."""

import sys

from jp1notify.cli import main

sys.exit(main())

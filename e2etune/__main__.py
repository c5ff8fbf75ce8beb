"""`python -m e2etune`: the `e2etune` command (see `e2etune.cli`)."""

import sys

from e2etune.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m kornews`: the `kornews` command."""
import sys

from kornews.cli import main

sys.exit(main())

import sys

from stair.cli import main

sys.exit(main())

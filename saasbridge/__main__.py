import sys

from saasbridge.cli import main

sys.exit(main())

import sys

from trainables.train._cli import main

sys.exit(main())

import sys

from serve._cli import main

sys.exit(main())

import sys

from raytune.recommend import main

sys.exit(main())

"""``python -m napari_medgan.cli``."""

import sys

from napari_medgan.cli import main

sys.exit(main())

"""napari-medgan: train GANs and conditional GANs on medical scans in napari or headless.

The package logs through ``logging.getLogger("napari_medgan")`` (engine modules use child
loggers); it adds only a ``NullHandler``, so nothing is printed unless the application (napari,
a script, or ``napari-medgan --verbose``) configures logging.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

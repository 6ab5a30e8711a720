"""napari-medgan: train GANs and conditional GANs on medical scans in napari or headless."""

__version__ = "0.1.0"

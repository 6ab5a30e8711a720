"""What the docks share: background jobs (:mod:`.jobs`, the one way to run work off napari's
event loop), layout helpers, the checkpoint field, the layer table and the layers the docks add."""

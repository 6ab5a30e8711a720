"""napari dock widgets: thin Qt shells over the engine."""

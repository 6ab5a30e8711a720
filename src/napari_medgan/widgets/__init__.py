"""napari dock widgets: thin Qt shells over the engine, one sub-package per dock.

``train/``, ``generate/`` and ``evaluate/`` hold a dock each (``widget.py``) with its parts;
``common/`` what they share, background jobs included (``common/jobs.py``); ``reader_prefs.py``
the small reader-preferences dock. Widgets build on ``napari_medgan.napari_glue``, never the
reverse (``tests/test_engine_import.py``).
"""

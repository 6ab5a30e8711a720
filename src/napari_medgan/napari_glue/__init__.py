"""napari glue: what napari calls (npe2 readers and writers, reader preferences) and the state
one napari session shares between them and the dock widgets.

Layers, low to high: ``engine`` < ``io`` < ``napari_glue`` < ``widgets``
(``tests/test_engine_import.py`` checks it). ``io`` knows nothing of napari; the widgets build on
this package, never the reverse.
"""

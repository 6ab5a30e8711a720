"""napari's reader preferences for the medical formats: set only when the user asks.

napari's own reader also claims ``.nii``, ``.nii.gz``, ``.dcm``, ``.nrrd`` and folders, but reads
them without patient geometry or Hounsfield units. File ▸ Open therefore asks which reader to
use. :func:`use_medgan_readers` (the "Reader preferences" widget's button) records napari-medgan
as the preferred reader for those suffixes (and, when given, for DICOM folder trees) in
``napari.settings.get_settings().plugins.extension2reader``; :func:`restore_napari_readers`
removes exactly those entries again. Nothing here runs on import or plugin load.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PLUGIN = "napari-medgan"
PATTERNS = ("*.nii", "*.nii.gz", "*.nrrd", "*.nhdr", "*.dcm", "*.dicom", "*.ima")


def folder_patterns(folder: str | Path) -> tuple[str, str]:
    """Preference patterns for a folder and every folder below it (files are not matched).

    napari matches a folder's real path with a trailing separator, so ``ROOT/`` names the
    folder itself and ``ROOT/*/`` any folder below it.
    """
    root = os.path.realpath(str(folder)).rstrip(os.sep)
    return f"{root}{os.sep}", f"{root}{os.sep}*{os.sep}"


def _settings():
    from napari.settings import get_settings

    return get_settings().plugins


def preferred_patterns() -> list[str]:
    """The reader-preference patterns that currently point at napari-medgan."""
    return sorted(k for k, v in _settings().extension2reader.items() if v == PLUGIN)


def use_medgan_readers(folders: Iterable[str | Path] = ()) -> list[str]:
    """Make napari-medgan napari's preferred reader for NIfTI, NRRD and DICOM files.

    Parameters
    ----------
    folders : iterable of path
        DICOM folders (e.g. an archive root) whose folders should open with napari-medgan too;
        a folder-wide preference for all folders is never set (it would take over ``.zarr`` and
        image-sequence folders).

    Returns
    -------
    list of str
        The patterns now pointing at napari-medgan.
    """
    plugins = _settings()
    new = dict.fromkeys(PATTERNS, PLUGIN)
    for folder in folders:
        if not Path(folder).is_dir():
            raise NotADirectoryError(f"{folder}: not a folder")
        new.update(dict.fromkeys(folder_patterns(folder), PLUGIN))
    plugins.extension2reader = {**plugins.extension2reader, **new}
    return preferred_patterns()


def restore_napari_readers() -> list[str]:
    """Remove every reader preference that points at napari-medgan; return the removed patterns."""
    plugins = _settings()
    removed = preferred_patterns()
    plugins.extension2reader = {k: v for k, v in plugins.extension2reader.items() if v != PLUGIN}
    return removed

"""Finding DICOM files: by suffix or pydicom's preamble check, in folders with a bounded probe."""

from __future__ import annotations

import os
from pathlib import Path

from pydicom.misc import is_dicom

DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
# Folders that hold many small extensionless files but never DICOM (chunked array stores).
_NOT_DICOM_FOLDERS = (".zarr", ".n5", ".zarr.zip")
# How many files a folder probe opens before it gives up looking for DICOM.
PROBE_LIMIT = 64


def has_dicom_magic(path: str | Path) -> bool:
    """Return True if the file carries the DICOM preamble marker ``DICM`` (pydicom's check)."""
    try:
        return is_dicom(path)
    except OSError:
        return False


def is_dicom_file(path: str | Path) -> bool:
    """Return True for a file with a DICOM suffix or the DICOM preamble marker."""
    path = Path(path)
    if not path.is_file() or path.name.upper() == "DICOMDIR":
        return False
    return path.suffix.lower() in DICOM_SUFFIXES or has_dicom_magic(path)


def dicom_files_in(
    folder: str | Path, limit: int | None = None, probe: int | None = None
) -> list[Path]:
    """Return DICOM files below ``folder`` (recursively, sorted), at most ``limit`` of them.

    ``probe`` bounds how many files are opened in all (a quick "is this a DICOM folder?" check
    must not read a whole array store); chunked-array folders (``.zarr``, ``.n5``) are skipped.
    """
    found: list[Path] = []
    opened = 0
    if str(folder).lower().rstrip("/\\").endswith(_NOT_DICOM_FOLDERS):
        return found
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.lower().endswith(_NOT_DICOM_FOLDERS))
        for name in sorted(files):
            if probe is not None and opened >= probe:
                return found
            opened += 1
            candidate = Path(root) / name
            if is_dicom_file(candidate):
                found.append(candidate)
                if limit is not None and len(found) >= limit:
                    return found
    return found

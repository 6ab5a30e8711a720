"""Cohorts: many scans with their conditions, from a folder tree or a CSV/TSV table.

Discovery only reads file names and headers; pixels are read later, one scan at a time, by
:meth:`CohortScan.load` (through the readers of :mod:`napari_medgan.io`), so a cohort of
hundreds of CT volumes costs nothing until the streamed preparation of the engine walks it.

Layouts
-------
- **Folder tree**: ``ROOT/<condition>/<scan>`` where a scan is a NIfTI / NRRD file or a folder
  holding one DICOM study (files in sub-folders count too); loose DICOM files directly in a
  condition folder form one study.
- **Table** (``.csv`` or ``.tsv``): columns ``path`` (required), ``condition``, ``split``
  (``train`` / ``heldout``) and ``patient`` (optional); relative paths are relative to the table.

A DICOM study with several series is reduced to one by a :class:`SeriesRule`. Patient IDs are
never stored: a study's PatientID becomes a short one-way hash used only to split by patient.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dicom import dicom_files_in, is_dicom_file
from .nifti import is_nifti
from .nrrd_io import is_nrrd
from .types import ReadError

TABLE_COLUMNS = ("path", "condition", "split", "patient")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "heldout": "heldout",
    "held-out": "heldout",
    "held_out": "heldout",
    "test": "heldout",
    "val": "heldout",
    "validation": "heldout",
}
PICKS = ("largest", "first")


class CohortError(ValueError):
    """A cohort cannot be built (empty condition, bad table, ...); the message says why."""


@dataclass(frozen=True)
class SeriesRule:
    """How to choose one series of a DICOM study that holds several.

    Parameters
    ----------
    modality : str, optional
        Keep only series of this modality (``CT``, ``MR``...; case-insensitive).
    description : str, optional
        Keep only series whose SeriesDescription matches this regular expression
        (case-insensitive search, e.g. ``"t1|mprage"``).
    pick : str
        Among the series left: ``"largest"`` (most voxels, default) or ``"first"`` (lowest
        SeriesNumber).
    """

    modality: str | None = None
    description: str | None = None
    pick: str = "largest"

    def __post_init__(self) -> None:
        if self.pick not in PICKS:
            raise CohortError(f"series pick must be one of {', '.join(PICKS)} (got {self.pick!r})")
        if self.description:
            try:
                re.compile(self.description)
            except re.error as exc:
                raise CohortError(
                    f"series description pattern {self.description!r} is not a valid "
                    f"regular expression ({exc})"
                ) from None

    def to_dict(self) -> dict[str, Any]:
        return {"modality": self.modality, "description": self.description, "pick": self.pick}


@dataclass(frozen=True)
class CohortScan:
    """One scan of a cohort: where it is, its condition and what it was chosen by.

    ``files`` are the files whose size and modification time identify the scan's content (the
    chosen series of a DICOM study). ``group`` is the patient (hashed) when known, else the scan.
    """

    path: Path
    name: str
    condition: str | None = None
    split: str | None = None
    patient: str | None = None
    files: tuple[Path, ...] = ()
    series: str = ""
    ndim: int | None = None
    modality: str | None = None  # overrides the header's modality ("CT" selects the HU window)

    @property
    def group(self) -> str:
        return self.patient or self.name

    def fingerprint(self) -> list[list[Any]]:
        """``[path, size, mtime_ns]`` of every file behind the scan (cache invalidation)."""
        out = []
        for f in self.files or (self.path,):
            st = os.stat(f)
            out.append([str(Path(f).resolve()), int(st.st_size), int(st.st_mtime_ns)])
        return out

    def cache_token(self) -> dict[str, Any]:
        """Everything about this scan that changes the prepared slices."""
        return {
            "name": self.name,
            "condition": self.condition,
            "split": self.split,
            "group": self.group,
            "series": self.series,
            "modality": self.modality,
            "files": self.fingerprint(),
        }

    def load(self):
        """Read the scan (only now are pixels read) as an engine ``Volume``.

        Raises
        ------
        ReadError
            If the scan cannot be read or is not a single 2D/3D image.
        """
        from napari_medgan.engine.data import Volume

        from .readers import read_image

        if len(self.files) > 1 or (self.files and self.files[0] != self.path):
            images = _read_series(self.path, self.files)
        else:
            images = read_image(self.path)
        image = max(images, key=lambda im: im.data.size)
        if image.data.ndim == 4:
            raise ReadError(f"{self.name}: 4D (time series) scan; extract one volume first")
        return Volume(
            data=image.data,
            spacing=tuple(image.spacing),
            condition=self.condition,
            modality=self.modality or image.modality,
            name=self.name,
            origin=tuple(image.origin),
            group=self.group,
        )


@dataclass
class Cohort:
    """The scans found, and what was left out (name, reason) during discovery."""

    scans: list[CohortScan]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    declared: list[str] = field(default_factory=list)  # condition folders found

    def conditions(self) -> dict[str, int]:
        """Number of scans per condition (``"all"`` when unconditional)."""
        out: dict[str, int] = {}
        for s in self.scans:
            key = s.condition or "all"
            out[key] = out.get(key, 0) + 1
        return out

    def check(self, split_by_scan: bool = False) -> None:
        """Refuse cohorts that cannot train: nothing found, mixed 2D/3D, single-scan conditions.

        Parameters
        ----------
        split_by_scan : bool
            A held-out split by scan (or patient) was asked for: every condition needs at least
            two scans (groups).
        """
        if not self.scans:
            raise CohortError(f"{self.source or 'cohort'}: no readable scans found")
        lost = [c for c in self.declared if c not in self.conditions()]
        if lost:
            raise CohortError(f"condition {lost[0]!r}: none of its scans could be read")
        named = [s.condition is not None for s in self.scans]
        if any(named) and not all(named):
            missing = [s.name for s in self.scans if s.condition is None][:5]
            raise CohortError(
                "give every scan a condition or none; missing for " + ", ".join(missing)
            )
        dims = {s.ndim for s in self.scans if s.ndim is not None}
        if len(dims) > 1:
            two = next(s.name for s in self.scans if s.ndim == 2)
            three = next(s.name for s in self.scans if s.ndim == 3)
            raise CohortError(
                f"mixed 2D and 3D scans (e.g. {two} is 2D, {three} is 3D); "
                "train on one kind at a time"
            )
        if split_by_scan:
            groups: dict[str, set[str]] = {}
            for s in self.scans:
                groups.setdefault(s.condition or "all", set()).add(s.group)
            single = [c for c, g in groups.items() if len(g) < 2]
            if single:
                raise CohortError(
                    f"condition {single[0]!r} has a single scan (or patient); a held-out split by "
                    "scan needs at least two per condition: add scans or drop the split by scan"
                )


# ---------------------------------------------------------------------- discovery
def discover(
    source: str | Path,
    rule: SeriesRule | None = None,
    modality: str | None = None,
) -> Cohort:
    """Find the scans of a folder tree (sub-folders are conditions) or a CSV/TSV table.

    Raises
    ------
    CohortError
        For a missing source, an empty condition folder, or a bad table.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise CohortError(f"{source}: no such folder or table")
    rule = rule or SeriesRule()
    if source.is_dir():
        return discover_folder(source, rule, modality)
    if source.suffix.lower() in (".csv", ".tsv", ".txt"):
        return read_table(source, rule, modality)
    raise CohortError(f"{source}: a cohort is a folder of condition folders or a .csv/.tsv table")


def discover_folder(root: Path, rule: SeriesRule, modality: str | None = None) -> Cohort:
    """``ROOT/<condition>/<scan>``; an empty condition folder is an error."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise CohortError(f"{root}: no condition sub-folders (expected ROOT/<condition>/<scans>)")
    cohort = Cohort(scans=[], source=str(root), declared=[d.name for d in subdirs])
    for cond_dir in subdirs:
        entries = _scan_entries(cond_dir)
        if not entries:
            raise CohortError(f"condition folder {cond_dir} holds no scans (NIfTI, NRRD or DICOM)")
        for entry, files in entries:
            _add(cohort, entry, cond_dir.name, None, None, rule, modality, root, files)
    return cohort


def read_table(table: Path, rule: SeriesRule, modality: str | None = None) -> Cohort:
    """Read a CSV/TSV of ``path, condition[, split][, patient]``; missing files are an error."""
    text = table.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    first = lines[0] if lines else ""
    tsv = table.suffix.lower() == ".tsv" or ("\t" in first and "," not in first)
    delim = "\t" if tsv else ","
    rows = list(csv.DictReader(lines, delimiter=delim))
    header = [h.strip().lower() for h in (rows[0].keys() if rows else _header(text, delim))]
    unknown = [h for h in header if h not in TABLE_COLUMNS]
    if unknown:
        raise CohortError(
            f"{table}: unknown column(s) {', '.join(unknown)}; "
            f"expected {', '.join(TABLE_COLUMNS)} (only path is required)"
        )
    if "path" not in header:
        raise CohortError(f"{table}: no 'path' column (columns: {', '.join(header) or 'none'})")
    if not rows:
        raise CohortError(f"{table}: the table lists no scans")
    cohort = Cohort(scans=[], source=str(table))
    missing = []
    for i, raw in enumerate(rows, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not row.get("path"):
            raise CohortError(f"{table}: line {i} has an empty path")
        path = Path(row["path"]).expanduser()
        if not path.is_absolute():
            path = table.parent / path
        if not path.exists():
            missing.append(row["path"])
            continue
        split = row.get("split") or None
        if split is not None:
            if split.lower() not in SPLIT_ALIASES:
                raise CohortError(
                    f"{table}: line {i}: split {split!r} is not train or heldout (or test/val)"
                )
            split = SPLIT_ALIASES[split.lower()]
        patient = _hash(row["patient"]) if row.get("patient") else None
        _add(
            cohort, path, row.get("condition") or None, split, patient, rule, modality, table.parent
        )
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CohortError(
            f"{table}: {len(missing)} listed file(s) missing: " + ", ".join(missing[:3]) + more
        )
    return cohort


def _header(text: str, delim: str) -> list[str]:
    lines = text.splitlines()
    return next(csv.reader(lines[:1], delimiter=delim), []) if lines else []


def _scan_entries(folder: Path) -> list[tuple[Path, list[Path] | None]]:
    """Scans in a condition folder: image files, study sub-folders, loose DICOM files (one
    study named after the folder), each with its DICOM files when they are not the whole path."""
    entries: list[tuple[Path, list[Path] | None]] = []
    loose: list[Path] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if dicom_files_in(p, limit=1):
                entries.append((p, None))
        elif is_nifti(p) or is_nrrd(p):
            entries.append((p, None))
        elif is_dicom_file(p):
            loose.append(p)
    if loose:
        entries.append((folder, loose))
    return entries


def _add(
    cohort: Cohort,
    path: Path,
    condition: str | None,
    split: str | None,
    patient: str | None,
    rule: SeriesRule,
    modality: str | None,
    root: Path,
    dicom_files: list[Path] | None = None,
) -> None:
    name = _display_name(path, root)
    try:
        if path.is_dir() or is_dicom_file(path):
            files, series, ndim, pid = _choose_series(path, rule, dicom_files)
            scan = CohortScan(
                path=path,
                name=name,
                condition=condition,
                split=split,
                patient=patient or pid,
                files=tuple(files),
                series=series,
                ndim=ndim,
                modality=modality,
            )
        else:
            scan = CohortScan(
                path=path,
                name=name,
                condition=condition,
                split=split,
                patient=patient,
                files=(path,),
                ndim=_header_ndim(path),
                modality=modality,
            )
    except ReadError as exc:
        cohort.skipped.append((name, str(exc)))
        return
    cohort.scans.append(scan)


def _display_name(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _hash(patient_id: str) -> str:
    return "patient-" + hashlib.sha256(patient_id.encode("utf-8")).hexdigest()[:12]


def _header_ndim(path: Path) -> int | None:
    """Number of axes longer than 1, from the header only (None when unknown)."""
    try:
        if is_nifti(path):
            import nibabel as nib

            shape = nib.load(path).shape
        elif is_nrrd(path):
            import nrrd

            shape = tuple(nrrd.read_header(str(path)).get("sizes", ()))
        else:
            return None
    except Exception as exc:  # nibabel / pynrrd raise many kinds on a corrupt header
        raise ReadError(f"{path}: unreadable header ({type(exc).__name__}: {exc})") from None
    spatial = [n for n in shape[:3] if n > 1]
    return min(3, len(spatial)) if spatial else None


# ---------------------------------------------------------------------- DICOM series
def _choose_series(
    path: Path, rule: SeriesRule, files: list[Path] | None = None
) -> tuple[list[Path], str, int, str | None]:
    """Files of the chosen series, its description, its ndim and the hashed PatientID."""
    import pydicom

    if files is None:
        files = [path] if path.is_file() else dicom_files_in(path)
    series: dict[str, dict[str, Any]] = {}
    no_pixels = 0
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
        except Exception:  # unreadable headers are skipped like read_dicom skips them
            continue
        if not any(k in ds for k in ("Rows", "NumberOfFrames")) or "Columns" not in ds:
            no_pixels += 1
            continue
        uid = str(ds.get("SeriesInstanceUID", "")) or "?"
        s = series.setdefault(
            uid,
            {
                "files": [],
                "modality": str(ds.get("Modality", "") or ""),
                "description": str(ds.get("SeriesDescription", "") or ""),
                "number": _num(ds.get("SeriesNumber")),
                "patient": str(ds.get("PatientID", "") or ""),
                "voxels": 0,
                "frames": 0,
            },
        )
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        s["files"].append(f)
        s["frames"] += frames
        s["voxels"] += frames * int(ds.Rows) * int(ds.Columns)
    if not series:
        raise ReadError(
            f"{path}: no series with pixel data"
            + (f" ({no_pixels} DICOM files without images)" if no_pixels else "")
        )
    candidates = list(series.values())
    if rule.modality:
        candidates = [s for s in candidates if s["modality"].upper() == rule.modality.upper()]
    if rule.description:
        pattern = re.compile(rule.description, re.IGNORECASE)
        candidates = [s for s in candidates if pattern.search(s["description"])]
    if not candidates:
        seen = "; ".join(f"{s['modality']} '{s['description']}'" for s in series.values())
        raise ReadError(f"{path}: no series matches the series rule {rule.to_dict()} (has: {seen})")
    if rule.pick == "first":
        chosen = min(candidates, key=lambda s: (s["number"], s["description"]))
    else:
        chosen = max(candidates, key=lambda s: s["voxels"])
    ndim = 3 if chosen["frames"] > 1 else 2
    pid = _hash(chosen["patient"]) if chosen["patient"] else None
    label = chosen["description"] or f"{chosen['modality']} series {chosen['number']:g}"
    return sorted(chosen["files"]), label, ndim, pid


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")


def _read_series(path: Path, files: tuple[Path, ...]):
    """Read only the chosen series' files (a folder of links, so other series stay unread)."""
    from .dicom import read_dicom

    if len(files) == 1:
        return read_dicom(files[0])
    with tempfile.TemporaryDirectory(prefix="medgan-series-") as tmp:
        try:
            for i, f in enumerate(files):
                os.symlink(Path(f).resolve(), Path(tmp) / f"{i:06d}_{Path(f).name}")
        except OSError:  # no symlinks (some Windows setups): read the study, keep the largest
            return read_dicom(path)
        return read_dicom(tmp)

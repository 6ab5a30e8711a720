"""DICOM reading with pydicom: single files, multi-frame files, series folders, several series.

Slices are sorted by their position along the slice normal, rescale slope/intercept are applied and
the stack is reoriented to the LPS (z, y, x) convention of :mod:`napari_medgan.io.types`. Patient
identifiers are never copied into ``metadata``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut

from .dicom_find import (
    DICOM_SUFFIXES,
    PROBE_LIMIT,
    dicom_files_in,
    has_dicom_magic,
    is_dicom_file,
)
from .types import (
    ImageData,
    ReadError,
    canonicalise,
    finite_limits,
    nan_facts,
    with_time_axis,
)
from .voxels import c_contiguous, empty_in_order

__all__ = [  # the finders stay importable from here
    "DICOM_SUFFIXES",
    "PROBE_LIMIT",
    "DicomSeriesWarning",
    "dicom_files_in",
    "has_dicom_magic",
    "is_dicom_file",
    "read_dicom",
]
_DEFER = 16384  # bytes; larger values (pixels) are read when used: a series' slices one at a time
_DECODER_HINT = (
    "install a decoder, e.g. `pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg` "
    "or `pip install python-gdcm`"
)


class DicomSeriesWarning(UserWarning):
    """A series (or files) in a DICOM folder was skipped; the others were read."""


@dataclass
class _Frame:
    """One 2D frame with its geometry and value mapping."""

    load: Callable[[], np.ndarray]
    shape: tuple[int, int]
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    thickness: float | None
    slope: float
    intercept: float
    order: tuple[float, ...]
    window: tuple[float, float] | None
    as_float: bool = False
    lut: Dataset | None = None  # holds the Modality LUT module (rescale or LUT sequence)


def read_dicom(path: str | Path) -> list[ImageData]:
    """Read a DICOM file or a folder of DICOM files into one ImageData per series.

    Raises
    ------
    ReadError
        For a folder without DICOM images, a file without pixel data, a series with mixed image
        sizes, unreadable files, or compressed pixel data without an installed decoder.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file")
    ds = _dcmread(path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ReadError(
            f"{path}: DICOM file holds no pixel data "
            f"({_sop_name(ds)}, e.g. a structured report or RT plan): nothing to show"
        )
    if _is_multiframe(ds):
        return [_multiframe_image(ds, path)]
    return _group_and_stack([(ds, path)], str(path))


def _dcmread(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, force=path.suffix.lower() in DICOM_SUFFIXES, defer_size=_DEFER)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ReadError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc


def _sop_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    return getattr(uid, "name", None) or str(uid or "unknown SOP class")


def _read_folder(folder: Path) -> list[ImageData]:
    files = dicom_files_in(folder)
    if not files:
        raise ReadError(f"{folder}: folder holds no DICOM files")
    singles: list[tuple[Dataset, Path]] = []
    images: list[ImageData] = []
    skipped: list[str] = []
    problems: list[str] = []
    for file in files:
        try:
            ds = _dcmread(file)
        except ReadError:
            skipped.append(file.name)
            continue
        if "PixelData" not in ds:
            skipped.append(file.name)
        elif _is_multiframe(ds):
            try:
                _refuse_colour(ds, str(file))
                images.append(_multiframe_image(ds, file))
            except ReadError as exc:
                problems.append(str(exc))
        else:
            singles.append((ds, file))
    if singles:
        images.extend(_group_and_stack(singles, str(folder), problems))
    unreadable = [n for n in skipped if not n.upper().startswith("DICOMDIR")]
    if not images:
        detail = "; ".join(problems) if problems else f"{len(skipped)} files without pixels"
        raise ReadError(f"{folder}: folder holds no readable DICOM images ({detail})")
    for problem in problems:
        warnings.warn(f"skipped {problem}", DicomSeriesWarning, stacklevel=3)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
        warnings.warn(
            f"{folder}: skipped {len(unreadable)} file(s) that are not readable DICOM images: "
            f"{shown}",
            DicomSeriesWarning,
            stacklevel=3,
        )
    for image in images:
        image.metadata["skipped_files"] = skipped
        image.metadata["skipped_series"] = problems
    return images


def _refuse_colour(ds: Dataset, where: str) -> None:
    """Raise ReadError for colour images (this plugin trains on grey-level scans)."""
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "")
    if samples > 1 or not photometric.startswith("MONOCHROME"):
        raise ReadError(
            f"{where}: series '{_series_name(ds, Path(where))}' is a colour image "
            f"({photometric}, {samples} samples per pixel); only grey-level images are supported"
        )


def _is_multiframe(ds: Dataset) -> bool:
    return int(ds.get("NumberOfFrames", 1) or 1) > 1 or "PerFrameFunctionalGroupsSequence" in ds


def _floats(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.asarray([float(v) for v in value], dtype=float)


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)


def _window(item: Dataset) -> tuple[float, float] | None:
    center, width = _first(item.get("WindowCenter")), _first(item.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return (center - width / 2.0, center + width / 2.0)


def _pixels(ds: Dataset, path: Path) -> np.ndarray:
    """Decode pixel data, turning a missing decoder into a ReadError that names packages."""
    try:
        return ds.pixel_array
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        if syntax is not None and syntax.is_compressed:
            needs = [ln.strip() for ln in str(exc).splitlines() if "requires" in ln]
            detail = ("; ".join(needs) + "; ") if needs else ""
            raise ReadError(
                f"{path}: pixel data is compressed ({syntax.name}) and no decoder is installed: "
                f"{detail}{_DECODER_HINT}"
            ) from exc
        raise ReadError(f"{path}: cannot decode pixel data ({exc})") from exc


def _take_pixels(ds: Dataset, path: Path) -> np.ndarray:
    """Decode a file's pixels, then drop its bytes and pydicom's cached copy of them."""
    pixels = _pixels(ds, path)
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            delattr(ds, keyword)
    return pixels


def _frame_from_single(ds: Dataset, path: Path) -> _Frame:
    spacing = _floats(ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing"))
    thickness = _first(ds.get("SpacingBetweenSlices")) or _first(ds.get("SliceThickness"))
    return _Frame(
        load=lambda: _take_pixels(ds, path),
        shape=(int(ds.Rows), int(ds.Columns)),
        position=_floats(ds.get("ImagePositionPatient")),
        orientation=_floats(ds.get("ImageOrientationPatient")),
        pixel_spacing=None if spacing is None else (spacing[0], spacing[1]),
        thickness=thickness,
        slope=float(ds.get("RescaleSlope", 1.0) or 1.0),
        intercept=float(ds.get("RescaleIntercept", 0.0) or 0.0),
        order=(
            float(ds.get("AcquisitionNumber") or 0),
            float(ds.get("TemporalPositionIdentifier") or 0),
            float(ds.get("InstanceNumber") or 0),
        ),
        window=_window(ds),
        as_float=str(ds.get("Modality", "")) == "CT",
        lut=ds,
    )


def _group_and_stack(
    items: list[tuple[Dataset, Path]], source: str, problems: list[str] | None = None
) -> list[ImageData]:
    """Group single-frame datasets by series and orientation, then stack each group.

    With ``problems`` (a folder), a series that cannot be read is recorded there and skipped;
    without it the ReadError propagates.
    """
    groups: dict[tuple, list[tuple[Dataset, Path]]] = defaultdict(list)
    for ds, file in items:
        iop = ds.get("ImageOrientationPatient")
        iop_key = tuple(np.round(_floats(iop), 4)) if iop is not None else None
        groups[(str(ds.get("SeriesInstanceUID", "")), iop_key)].append((ds, file))
    per_series: dict[str, int] = defaultdict(int)
    for uid, _ in groups:
        per_series[uid] += 1
    images = []
    for (uid, _), members in groups.items():
        first, first_path = members[0]
        name = _series_name(first, first_path)
        if per_series[uid] > 1:
            name = f"{name} ({_plane_name(members[0][0])})"
        where = source if len(members) > 1 else str(first_path)
        try:
            _refuse_colour(first, where)
            frames = [_frame_from_single(ds, file) for ds, file in members]
            image = _stack(frames, name, where)
        except ReadError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            continue
        image.modality = str(first.get("Modality", "OT") or "OT")
        image.metadata.update(_series_facts(first, len(members)))
        images.append(image)
    return images


def _plane_name(ds: Dataset) -> str:
    iop = _floats(ds.get("ImageOrientationPatient"))
    if iop is None:
        return "no orientation"
    normal = np.abs(np.cross(iop[:3], iop[3:]))
    return ("sagittal", "coronal", "axial")[int(np.argmax(normal))]


def _series_name(ds: Dataset, path: Path) -> str:
    desc = str(ds.get("SeriesDescription", "") or "").strip()
    if desc:
        return desc
    number = ds.get("SeriesNumber")
    modality = str(ds.get("Modality", "") or "DICOM")
    return f"{modality} series {number}" if number not in (None, "") else path.stem


def _series_facts(ds: Dataset, n_files: int) -> dict[str, Any]:
    """Non-identifying header facts worth keeping with a layer."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return {
        "format": "DICOM",
        "modality": str(ds.get("Modality", "OT") or "OT"),
        "series_description": str(ds.get("SeriesDescription", "") or ""),
        "series_number": str(ds.get("SeriesNumber", "") or ""),
        "body_part": str(ds.get("BodyPartExamined", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "image_type": [str(v) for v in (ds.get("ImageType") or [])],
        "rescale_type": str(ds.get("RescaleType", "") or ""),
        "transfer_syntax": getattr(syntax, "name", "") if syntax is not None else "",
        "n_files": n_files,
    }


def _stack(frames: list[_Frame], name: str, source: str) -> ImageData:
    """Sort frames along the slice normal, stack, rescale and reorient to LPS (z, y, x)."""
    shapes = sorted({f.shape for f in frames})
    if len(shapes) > 1:
        raise ReadError(
            f"{source}: series '{name}' mixes image sizes {shapes}; cannot stack it as one volume"
        )
    iop = frames[0].orientation
    geometry_known = iop is not None and all(f.position is not None for f in frames)
    if iop is None:
        iop = np.array([1.0, 0, 0, 0, 1.0, 0])
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    ps = frames[0].pixel_spacing or (1.0, 1.0)
    thickness = frames[0].thickness or 1.0
    if geometry_known:
        frames = sorted(frames, key=lambda f: (float(np.dot(f.position, normal)), f.order))
    else:
        frames = sorted(frames, key=lambda f: f.order)
        base = frames[0].position if frames[0].position is not None else np.zeros(3)
        for k, frame in enumerate(frames):
            frame.position = base + k * thickness * normal
    # Repeated positions (several time points / echoes): stack them on a time axis.
    keys = np.round([float(np.dot(f.position, normal)) for f in frames], 3)
    unique = np.unique(keys)
    n_time = len(frames) // len(unique)
    if n_time * len(unique) != len(frames):
        raise ReadError(
            f"{source}: series '{name}' has {len(frames)} slices at {len(unique)} positions "
            "that do not form a regular volume"
        )
    by_pos = [
        sorted([f for f, k in zip(frames, keys) if k == u], key=lambda f: f.order) for u in unique
    ]
    first = [group[0] for group in by_pos]
    slice_vec = (
        (first[-1].position - first[0].position) / (len(first) - 1)
        if len(first) > 1
        else thickness * normal
    )
    aff = np.eye(4)
    aff[:3, 0] = slice_vec
    aff[:3, 1] = ps[0] * col_dir
    aff[:3, 2] = ps[1] * row_dir
    aff[:3, 3] = first[0].position

    def to_lps(stacked: np.ndarray):  # (t, slice, row, column) -> LPS (t, z, y, x)
        volume = np.moveaxis(stacked, 0, -1) if stacked.ndim == 4 else stacked
        # canonicalise takes spatial axes first in (column, row, slice) order, time last.
        volume = np.moveaxis(volume, (0, 1, 2), (2, 1, 0))
        return canonicalise(volume, aff[:, [2, 1, 0, 3]])

    stacked = _stack_frames(by_pos, n_time, lambda a: to_lps(a)[0])
    data, spacing, origin, affine = to_lps(stacked)
    data = c_contiguous(data, stacked)  # filled in LPS order already: no copy
    spacing, origin = with_time_axis(spacing, origin, data.ndim)
    steps = np.diff([float(np.dot(f.position, normal)) for f in first])
    facts: dict[str, Any] = {"source": source, **nan_facts(data)}
    if steps.size and np.ptp(steps) > 1e-3 * max(abs(float(np.mean(steps))), 1e-6):
        facts["irregular_slice_spacing"] = [float(s) for s in steps]
    if not geometry_known:
        facts["geometry"] = "missing: unit orientation and stacked positions assumed"
    window = frames[0].window
    return ImageData(
        data=data,
        spacing=spacing,
        origin=origin,
        name=name,
        affine=affine,
        contrast_limits=window or finite_limits(data),
        metadata=facts,
    )


def _stack_frames(
    by_pos: list[list[_Frame]], n_time: int, to_lps: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Every frame rescaled into one ``(t, slice, row, column)`` array (no ``t`` axis for one
    time point) of the type ``np.stack`` would give, laid out so that ``to_lps`` of it is
    C-contiguous: no list of slices, no stacked copy, no reoriented copy."""
    out: np.ndarray | None = None
    for t in range(n_time):
        for k, group in enumerate(by_pos):
            pixels = _rescaled(group[t])
            if out is None:
                shape = (len(by_pos), *pixels.shape)
                if n_time > 1:
                    out = empty_in_order((n_time, *shape), pixels.dtype, to_lps)
                else:
                    out = empty_in_order(shape, pixels.dtype, to_lps)[None]
            elif np.result_type(out.dtype, pixels.dtype) != out.dtype:  # rare: mixed types
                out = out.astype(np.result_type(out.dtype, pixels.dtype))
            out[t, k] = pixels
    assert out is not None  # by_pos holds at least one frame
    return out[0] if n_time == 1 else out


def _rescaled(frame: _Frame) -> np.ndarray:
    """Decoded pixels through the Modality LUT (pydicom's), e.g. stored values -> HU."""
    pixels = frame.load()
    if pixels.ndim != 2:
        raise ReadError(f"frame of shape {pixels.shape}: colour DICOM images are not supported")
    lut = frame.lut
    has_lut_seq = lut is not None and "ModalityLUTSequence" in lut
    if frame.slope == 1.0 and frame.intercept == 0.0 and not frame.as_float and not has_lut_seq:
        return pixels
    if lut is None:
        lut = Dataset()
    if not has_lut_seq:  # per-frame rescale of enhanced objects lives in functional groups
        lut = _rescale_module(lut, frame.slope, frame.intercept)
    return np.asarray(apply_modality_lut(pixels, lut), dtype=np.float32)


def _rescale_module(src: Dataset, slope: float, intercept: float) -> Dataset:
    """A Modality LUT module holding only ``slope`` and ``intercept`` (pydicom applies it)."""
    out = Dataset()
    for keyword in ("BitsStored", "PixelRepresentation"):
        if keyword in src:
            setattr(out, keyword, src[keyword].value)
    out.RescaleSlope = slope
    out.RescaleIntercept = intercept
    return out


def _multiframe_image(ds: Dataset, path: Path) -> ImageData:
    """Read a multi-frame (e.g. enhanced CT/MR) file using its functional groups when present."""
    pixels = _take_pixels(ds, path)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3 or pixels.shape[0] != n:
        raise ReadError(f"{path}: {n} frames of shape {pixels.shape} (colour?) are not supported")
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else Dataset()
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or [Dataset()] * n
    frames = []
    for k in range(n):
        item = per_frame[k]

        def group(keyword: str, item: Dataset = item) -> Dataset:
            seq = item.get(keyword) or shared.get(keyword)
            return seq[0] if seq else Dataset()

        plane = group("PlanePositionSequence")
        orient = group("PlaneOrientationSequence")
        measures = group("PixelMeasuresSequence")
        value = group("PixelValueTransformationSequence")
        voi = group("FrameVOILUTSequence")
        content = group("FrameContentSequence")
        spacing = _floats(measures.get("PixelSpacing") or ds.get("PixelSpacing"))
        frames.append(
            _Frame(
                load=lambda k=k: pixels[k],
                shape=tuple(pixels.shape[1:]),
                position=_floats(
                    plane.get("ImagePositionPatient") or ds.get("ImagePositionPatient")
                ),
                orientation=_floats(
                    orient.get("ImageOrientationPatient") or ds.get("ImageOrientationPatient")
                ),
                pixel_spacing=None if spacing is None else (spacing[0], spacing[1]),
                thickness=_first(measures.get("SpacingBetweenSlices"))
                or _first(ds.get("SpacingBetweenSlices"))
                or _first(measures.get("SliceThickness"))
                or _first(ds.get("SliceThickness")),
                slope=float(value.get("RescaleSlope", ds.get("RescaleSlope", 1.0)) or 1.0),
                intercept=float(
                    value.get("RescaleIntercept", ds.get("RescaleIntercept", 0.0)) or 0
                ),
                order=(
                    float(_first(content.get("TemporalPositionIndex")) or 0),
                    float(_first(content.get("InStackPositionNumber")) or 0),
                    float(k),
                ),
                window=_window(voi) or _window(ds),
                as_float=str(ds.get("Modality", "")) == "CT",
                lut=ds,
            )
        )
    image = _stack(frames, _series_name(ds, path), str(path))
    image.modality = str(ds.get("Modality", "OT") or "OT")
    image.metadata.update(_series_facts(ds, 1))
    image.metadata["n_frames"] = n
    return image

"""From volumes to a training set: slicing, intensity normalisation, resizing, conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

UNCONDITIONAL = "all"
#: Default CT window (HU): air to dense bone; the old ±1000 clipped bone (the pydicom-data CT
#: head reaches 1812 HU). Metal above 2000 is still clipped; ``TrainConfig.ct_window`` changes it.
CT_WINDOW = (-1000.0, 2000.0)
MR_PERCENTILES = (0.5, 99.5)


class DataError(ValueError):
    """Input images cannot make a training set; the message says why."""


@dataclass
class Volume:
    """One scan (or 2D image) with its geometry and condition.

    Parameters
    ----------
    data : numpy.ndarray
        2D ``(y, x)`` or 3D ``(z, y, x)`` array of intensities (HU for CT).
    spacing : tuple of float
        Physical size of a pixel along each axis (mm), same length as ``data.ndim``.
    condition : str or None
        Class name for conditional training; None for an unconditional GAN.
    modality : str
        ``"CT"`` (HU window) or anything else (robust percentiles).
    name : str
        Shown in messages.
    mask : numpy.ndarray, optional
        Same shape as ``data``; only slices where it is non-zero are used.
    window : tuple of float, optional
        Intensity window (low, high) overriding the modality default.
    origin : tuple of float, optional
        World position (mm) of voxel 0, per axis; zeros when not given.
    group : str, optional
        Patient or scan id used to hold out whole groups (see ``engine.holdout``); defaults to
        ``name``. Give scans of one patient the same group so they are held out together.
    """

    data: np.ndarray
    spacing: tuple[float, ...] | None = None
    condition: str | None = None
    modality: str = "MR"
    name: str = "image"
    mask: np.ndarray | None = None
    window: tuple[float, float] | None = None
    origin: tuple[float, ...] | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.dtype.kind not in "biuf":
            raise DataError(f"{self.name}: pixel type {data.dtype} is not a plain number type")
        if data.ndim == 3 and data.shape[-1] in (3, 4) and data.shape[0] > 4:
            raise DataError(f"{self.name}: looks like an RGB image; use a single-channel scan")
        if data.ndim not in (2, 3):
            raise DataError(
                f"{self.name}: expected a 2D image or a 3D volume, got {data.ndim}D "
                f"with shape {data.shape}"
            )
        if min(data.shape[-2:]) < 8:
            raise DataError(
                f"{self.name}: image of {data.shape[-2]}x{data.shape[-1]} pixels is too small "
                "(at least 8x8 is needed)"
            )
        if self.spacing is None:
            self.spacing = (1.0,) * data.ndim
        self.spacing = tuple(float(s) for s in self.spacing)
        if len(self.spacing) != data.ndim or any(
            not np.isfinite(s) or s <= 0 for s in self.spacing
        ):
            raise DataError(f"{self.name}: spacing {self.spacing} does not fit shape {data.shape}")
        self.origin = tuple(float(o) for o in (self.origin or (0.0,) * data.ndim))
        if len(self.origin) != data.ndim:
            raise DataError(f"{self.name}: origin {self.origin} does not fit shape {data.shape}")
        if self.mask is not None and np.shape(self.mask) != data.shape:
            raise DataError(
                f"{self.name}: mask shape {np.shape(self.mask)} differs from image {data.shape}"
            )
        self.data = data


@dataclass
class IntensityTransform:
    """Invertible map between scan units and the network's [-1, 1] range.

    ``forward`` clips to the window ``[low, high]``; ``inverse`` is exact inside it.
    """

    low: float
    high: float
    kind: str = "percentile"

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = (np.asarray(x, dtype=np.float32) - self.low) / (self.high - self.low) * 2.0 - 1.0
        return np.clip(y, -1.0, 1.0).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0)
        return ((y + 1.0) / 2.0 * (self.high - self.low) + self.low).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"low": float(self.low), "high": float(self.high), "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntensityTransform:
        return cls(low=float(d["low"]), high=float(d["high"]), kind=str(d.get("kind", "")))

    @classmethod
    def fit(
        cls, volumes: list[Volume], ct_window: tuple[float, float] | None = None
    ) -> IntensityTransform:
        """Window for CT (HU; ``ct_window`` or :data:`CT_WINDOW`), robust percentiles otherwise."""
        first = volumes[0]
        if first.window is not None:
            low, high = first.window
            kind = "window"
        elif first.modality.upper() == "CT":
            low, high = ct_window or CT_WINDOW
            kind = "window"
        else:
            parts = [_finite_every(v.data, max(1, v.data.size // 2_000_000)) for v in volumes]
            values = parts[0] if len(parts) == 1 else np.concatenate(parts)
            if values.size == 0:
                raise DataError(f"{first.name}: no finite values")
            low, high = np.percentile(values, MR_PERCENTILES, overwrite_input=True)  # our copy
            kind = "percentile"
        if not high > low:
            raise DataError(
                f"{first.name}: image is constant (all values {low:g}); nothing to learn from"
            )
        return cls(low=float(low), high=float(high), kind=kind)


@dataclass
class SliceGeometry:
    """How a training image maps back to a native slice of one condition."""

    native_shape: tuple[int, int]
    native_spacing: tuple[float, float]
    slice_spacing: float
    resized_shape: tuple[int, int]
    pixel_spacing: float
    slice_axis: int | None = None  # axis of the source volume slices were taken along (None: 2D)
    origin: tuple[float, ...] = ()  # world position of the source's voxel 0, source axis order

    def to_dict(self) -> dict[str, Any]:
        return {
            "native_shape": list(self.native_shape),
            "native_spacing": list(self.native_spacing),
            "slice_spacing": self.slice_spacing,
            "resized_shape": list(self.resized_shape),
            "pixel_spacing": self.pixel_spacing,
            "slice_axis": self.slice_axis,
            "origin": list(self.origin),
        }

    def stack_geometry(
        self, stack: np.ndarray
    ) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]:
        """Place a native stack ``(n, h, w)`` in the source's frame.

        Returns the array with the stack axis moved back to the source's slice axis, and its
        spacing and origin, so that a written file lines up with the source scan.
        """
        spacing = list(self.native_spacing)
        origin = list(self.origin) if self.origin else [0.0] * 3
        if self.slice_axis is None:  # 2D sources: the stack becomes a new leading axis
            return stack, (self.slice_spacing, *spacing), (0.0, *origin[-2:])
        spacing.insert(self.slice_axis, self.slice_spacing)
        return np.moveaxis(stack, 0, self.slice_axis), tuple(spacing), tuple(origin)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SliceGeometry:
        return cls(
            native_shape=tuple(int(v) for v in d["native_shape"]),
            native_spacing=tuple(float(v) for v in d["native_spacing"]),
            slice_spacing=float(d["slice_spacing"]),
            resized_shape=tuple(int(v) for v in d["resized_shape"]),
            pixel_spacing=float(d["pixel_spacing"]),
            slice_axis=d.get("slice_axis"),
            origin=tuple(float(v) for v in d.get("origin", ())),
        )


@dataclass
class SliceDataset:
    """Normalised training slices and what is needed to map samples back to scan units.

    Every slice carries its provenance: ``sources`` (name of the volume it came from),
    ``slice_index`` (its index along the slice axis of that volume; 0 for 2D images) and
    ``groups`` (the patient/scan id used to hold out data, by default the source name).
    ``roles`` is set for image pairs (``images`` then has one channel per role, e.g. source and
    target of a translation, see ``families.translate.pairs``) and stored with the checkpoint.
    """

    images: torch.Tensor  # (N, 1, size, size) float32 in [-1, 1]
    labels: torch.Tensor  # (N,) int64 class index
    class_names: list[str]
    transforms: dict[str, IntensityTransform]
    geometry: dict[str, SliceGeometry]
    conditional: bool
    sources: list[str] = field(default_factory=list)  # volume name of each slice
    slice_index: torch.Tensor | None = None  # (N,) int64 index in the source volume
    groups: list[str] = field(default_factory=list)  # patient/scan id of each slice
    roles: dict[str, dict[str, str]] | None = None  # channel roles of paired images

    def __post_init__(self) -> None:
        n = len(self)
        if not self.sources:
            self.sources = ["image"] * n
        if self.slice_index is None:
            self.slice_index = torch.arange(n, dtype=torch.int64)
        self.slice_index = torch.as_tensor(self.slice_index, dtype=torch.int64)
        if not self.groups:
            self.groups = list(self.sources)
        if not (len(self.sources) == len(self.groups) == len(self.slice_index) == n):
            raise DataError(
                f"provenance does not fit the {n} slices: {len(self.sources)} sources, "
                f"{len(self.slice_index)} slice indices, {len(self.groups)} groups"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def counts(self) -> dict[str, int]:
        """Number of slices per class."""
        return {n: int((self.labels == i).sum()) for i, n in enumerate(self.class_names)}

    def subset(self, index: Any) -> SliceDataset:
        """The slices at ``index`` (integer indices or a boolean mask), same classes and maps.

        Class names, intensity transforms and geometry are kept even when a class ends up
        with no slice, so a subset can always be mapped back to scan units.
        """
        idx = torch.as_tensor(np.asarray(index))
        if idx.dtype == torch.bool:
            if idx.numel() != len(self):
                raise DataError(f"mask of {idx.numel()} entries for {len(self)} slices")
            idx = torch.nonzero(idx).flatten()
        idx = idx.to(torch.int64).flatten()
        pos = idx.tolist()
        return SliceDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            class_names=list(self.class_names),
            transforms=dict(self.transforms),
            geometry=dict(self.geometry),
            conditional=self.conditional,
            sources=[self.sources[i] for i in pos],
            slice_index=self.slice_index[idx].clone(),
            groups=[self.groups[i] for i in pos],
            roles=self.roles,
        )

    def meta(self) -> dict[str, Any]:
        """JSON-serialisable description stored in checkpoints."""
        meta = {
            "class_names": list(self.class_names),
            "conditional": self.conditional,
            "transforms": {k: t.to_dict() for k, t in self.transforms.items()},
            "geometry": {k: g.to_dict() for k, g in self.geometry.items()},
            "counts": self.counts(),
        }
        if self.roles is not None:
            meta["roles"] = {k: dict(v) for k, v in self.roles.items()}
        return meta


def build_dataset(
    volumes: list[Volume],
    size: int,
    slice_axis: int = 0,
    min_foreground: float = 0.05,
    transforms: dict[str, IntensityTransform] | None = None,
    ct_window: tuple[float, float] | None = None,
) -> SliceDataset:
    """Slice, normalise and resize volumes into a training set.

    Parameters
    ----------
    volumes : list of Volume
        All with a condition name (conditional GAN) or all without (unconditional).
    size : int
        Square training size; slices keep their physical aspect ratio and are padded.
    slice_axis : int
        Axis of 3D volumes to slice along.
    min_foreground : float
        Minimum fraction of pixels above 5% of the window for a slice to be kept.
    transforms : dict of str to IntensityTransform, optional
        Intensity maps to use instead of fitting them (a resumed run keeps its checkpoint's);
        every condition of the volumes must have one.
    ct_window : tuple of float, optional
        HU window of CT volumes that have no window of their own (default :data:`CT_WINDOW`).

    Raises
    ------
    DataError
        On an empty list, mixed conditional/unconditional volumes, or no usable slice.
    """
    if not volumes:
        raise DataError("no images given")
    given_transforms = transforms
    named = [v.condition is not None for v in volumes]
    if any(named) and not all(named):
        missing = [v.name for v in volumes if v.condition is None]
        raise DataError(
            "give every image a condition name or none at all; missing for: " + ", ".join(missing)
        )
    conditional = all(named)
    class_names: list[str] = []
    by_class: dict[str, list[Volume]] = {}
    for v in volumes:
        name = v.condition if conditional else UNCONDITIONAL
        name = str(name).strip()
        if not name:
            raise DataError(f"{v.name}: empty condition name")
        if name not in by_class:
            class_names.append(name)
            by_class[name] = []
        by_class[name].append(v)

    from .prepare_scan import _prepare_volume  # it imports this module

    images, labels, sources, slice_index, groups = [], [], [], [], []
    used_names: set[str] = set()
    transforms: dict[str, IntensityTransform] = {}
    geometry: dict[str, SliceGeometry] = {}
    for label, name in enumerate(class_names):
        vols = by_class[name]
        transform = _transform_for(name, vols, given_transforms, ct_window)
        transforms[name] = transform
        for v in vols:
            # a few slices at a time: never the whole volume as float (see prepare_scan)
            scan = _prepare_volume(v, transform, size, slice_axis, min_foreground)
            if scan.images is None:
                continue
            resized = torch.from_numpy(scan.images)
            if name not in geometry:
                geometry[name] = scan.geometry
            images.append(resized)
            labels.append(torch.full((len(resized),), label, dtype=torch.int64))
            source = unique_name(v.name, used_names)
            sources += [source] * len(resized)
            slice_index.append(torch.from_numpy(scan.slice_index))
            groups += [str(v.group) if v.group is not None else source] * len(resized)
        if name not in geometry:
            raise DataError(
                f"condition {name!r}: every slice is near-empty "
                f"(less than {min_foreground:.0%} foreground); check the image or the mask"
            )
    return SliceDataset(
        images=torch.cat(images),
        labels=torch.cat(labels),
        class_names=class_names,
        transforms=transforms,
        geometry=geometry,
        conditional=conditional,
        sources=sources,
        slice_index=torch.cat(slice_index),
        groups=groups,
    )


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when another volume already took it."""
    out, k = name, 1
    while out in used:
        k += 1
        out = f"{name} ({k})"
    used.add(out)
    return out


def _transform_for(
    name: str,
    vols: list[Volume],
    given: dict[str, IntensityTransform] | None,
    ct_window: tuple[float, float] | None = None,
) -> IntensityTransform:
    if given is None:
        return IntensityTransform.fit(vols, ct_window)
    if name not in given:
        raise DataError(
            f"condition {name!r} is not in the checkpoint (it has {', '.join(given) or 'none'})"
        )
    return given[name]


def _finite_every(a: np.ndarray, step: int) -> np.ndarray:
    """Every ``step``-th finite value of ``a`` as float32 in C order: what
    ``a.astype(float32)[finite][::step]`` gives, a block of rows at a time (no float copy)."""
    a = np.atleast_1d(np.asarray(a))
    rows = max(1, (1 << 18) // max(1, a[0].size)) if len(a) else 1
    out = np.empty(-(-a.size // step), np.float32)  # room for every value being finite
    seen = n = 0
    for start in range(0, len(a), rows):
        block = np.asarray(a[start : start + rows], dtype=np.float32).ravel()
        block = block[np.isfinite(block)]
        picked = block[(-seen) % step :: step]
        out[n : n + picked.size] = picked
        seen, n = seen + block.size, n + picked.size
    return out[:n]


def normalise_and_select(
    slices: np.ndarray,
    mask: np.ndarray | None,
    transform: IntensityTransform,
    min_foreground: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Slices mapped to the model range (NaN as the window's low end) and which to train on:
    those the mask touches, or without a mask those with at least ``min_foreground`` of
    their pixels above the background level."""
    norm = transform.forward(np.nan_to_num(slices, nan=transform.low))
    if mask is not None:
        keep = mask.reshape(len(norm), -1).any(axis=1)
    else:
        keep = (norm.reshape(len(norm), -1) > -0.9).mean(axis=1) >= min_foreground
    return norm, keep


def volume_slices(v: Volume, axis: int):
    """(n, h, w) slices, mask slices, in-plane spacing, spacing between slices."""
    data = np.asarray(v.data, dtype=np.float32)
    if data.ndim == 2:
        mask = None if v.mask is None else np.asarray(v.mask)[None]
        return data[None], mask, tuple(v.spacing), 1.0
    slices = np.moveaxis(data, axis, 0)
    mask = None if v.mask is None else np.moveaxis(np.asarray(v.mask), axis, 0)
    in_plane = tuple(s for i, s in enumerate(v.spacing) if i != axis)
    return slices, mask, in_plane, float(v.spacing[axis])


def resize_pad(
    slices: np.ndarray, spacing: tuple[float, float], size: int, slice_spacing: float
) -> tuple[torch.Tensor, SliceGeometry]:
    """Resample to isotropic pixels keeping the physical aspect ratio, pad with -1 to size."""
    n, h, w = slices.shape
    pixel = max(h * spacing[0], w * spacing[1]) / size
    nh = int(min(size, max(1, round(h * spacing[0] / pixel))))
    nw = int(min(size, max(1, round(w * spacing[1] / pixel))))
    t = torch.from_numpy(np.ascontiguousarray(slices))[:, None]
    t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (size - nh) // 2, (size - nw) // 2
    out = torch.full((n, 1, size, size), -1.0)
    out[:, :, top : top + nh, left : left + nw] = t.clamp(-1, 1)
    geom = SliceGeometry(
        native_shape=(h, w),
        native_spacing=(float(spacing[0]), float(spacing[1])),
        slice_spacing=slice_spacing,
        resized_shape=(nh, nw),
        pixel_spacing=float(pixel),
    )
    return out, geom


def to_native(images: np.ndarray, geom: SliceGeometry) -> np.ndarray:
    """Crop the padding and resample training-size images back to the native slice grid.

    Parameters
    ----------
    images : numpy.ndarray
        ``(..., size, size)`` images in any units.
    geom : SliceGeometry
        The condition's geometry from the dataset or checkpoint.
    """
    images = np.asarray(images, dtype=np.float32)
    size = images.shape[-1]
    nh, nw = geom.resized_shape
    top, left = (size - nh) // 2, (size - nw) // 2
    crop = images[..., top : top + nh, left : left + nw]
    lead = crop.shape[:-2]
    t = torch.from_numpy(np.ascontiguousarray(crop.reshape(-1, 1, nh, nw)))
    t = F.interpolate(t, size=geom.native_shape, mode="bilinear", align_corners=False)
    return t.numpy().reshape(*lead, *geom.native_shape)

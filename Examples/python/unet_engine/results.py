"""Typed results of the inference and sampling methods: ``Prediction.label``, ``Mask.array``, ``Explanation.map``.

Each result keeps the engine's JSON untouched in ``raw`` and gives the decoded values as attributes. Code
written against the plain dicts the client used to return keeps running: ``result["key"]`` reads the same
value it did then (the engine's field, or for the keys the client used to add, such as a mask's ``"mask"``,
the decoded array), and ``keys()``, ``get()``, ``in`` and iteration behave as on that dict.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Iterator, List, Optional

import numpy as np

from .images import decode_array, decode_image, decode_png

_IMAGE_KEYS = ("array", "png", "probabilities")


class _DictReads:
    """Dict-style reads over ``raw``, with the client-made keys of ``_added`` read from attributes."""

    raw: Dict[str, Any]
    #: Keys the untyped client put into the result dict itself -> the attribute that now holds that value.
    _added: ClassVar[Dict[str, str]] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._added:
            value = getattr(self, self._added[key])
            if value is None:
                raise KeyError(key)
            return value
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> List[str]:
        added = [k for k, attribute in self._added.items() if getattr(self, attribute) is not None]
        return [k for k in self.raw if k not in self._added] + added

    def items(self) -> List[Any]:
        return [(k, self[k]) for k in self.keys()]

    def values(self) -> List[Any]:
        return [self[k] for k in self.keys()]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclass
class Prediction(_DictReads):
    """One image's classes: ``label`` (the class name), ``class_index``, ``probabilities`` (one per class), and
    ``dicom`` (the tags of a DICOM image, else None)."""

    label: str
    class_index: int
    probabilities: List[float]
    dicom: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Prediction":
        return cls(label=raw["label"], class_index=raw["class_index"], probabilities=list(raw["probabilities"]),
                   dicom=raw.get("dicom"), raw=raw)


@dataclass
class Predictions(_DictReads):
    """``predict``'s result: ``predictions``, one :class:`Prediction` per image, in order."""

    predictions: List[Prediction]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"predictions": "predictions"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Predictions":
        return cls([Prediction.from_json(p) for p in raw.get("predictions", [])], raw)

    @property
    def labels(self) -> List[str]:
        return [p.label for p in self.predictions]


@dataclass(eq=False)
class Mask(_DictReads):
    """One image's mask at the image's own size.

    Attributes:
        array: the mask as numpy: (H, W) uint8 0/255 (class indices for a multi-class model) for the "array" and
            "png" encodings; float32 probabilities, (H, W) or (K, H, W), for "probabilities"; None when the mask
            was written to ``path`` (``output_dir``).
        shape: [H, W]. foreground_fraction: the share of foreground pixels.
        path: the PNG written (with ``output_dir``), else None. dicom: a DICOM image's tags, else None.
    """

    array: Optional[np.ndarray]
    shape: List[int]
    foreground_fraction: float
    path: Optional[str] = None
    dicom: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"mask": "array"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Mask":
        array = decode_image(raw) if any(k in raw for k in _IMAGE_KEYS) else None
        return cls(array=array, shape=list(raw["shape"]), foreground_fraction=raw["foreground_fraction"],
                   path=raw.get("path"), dicom=raw.get("dicom"), raw=raw)


@dataclass
class Segmentation(_DictReads):
    """``segment``'s result: ``masks``, one :class:`Mask` per image, in order."""

    masks: List[Mask]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"masks": "masks"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Segmentation":
        return cls([Mask.from_json(m) for m in raw.get("masks", [])], raw)

    @property
    def arrays(self) -> List[Optional[np.ndarray]]:
        return [m.array for m in self.masks]


@dataclass(eq=False)
class Explanation(_DictReads):
    """One image's explanation map.

    Attributes:
        map: the map as float32 numpy (H, W) (with the client's default encoding; uint8 for "png"/"array"), or
            None when it was written to ``path``.
        binary: with ``threshold``: the pixels whose map is >= threshold, as a bool array; else None.
        overlay_image: with ``overlay=True``: the RGB heat overlay (H, W, 3) uint8; else None.
        method, target, label, score, shape, layer: what was explained (see PROTOCOL.md's ``explain``).
        path: the PNG written (with ``output_dir``), else None.
    """

    map: Optional[np.ndarray]
    method: str
    target: int
    label: str
    score: float
    shape: List[int]
    layer: Optional[str] = None
    binary: Optional[np.ndarray] = None
    overlay_image: Optional[np.ndarray] = None
    path: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"map": "map", "binary": "binary", "overlay_image": "overlay_image"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Explanation":
        map_ = decode_image(raw) if any(k in raw for k in _IMAGE_KEYS) else None
        binary = None
        if "mask" in raw:
            m = raw["mask"]
            binary = (decode_png(base64.b64decode(m)) if isinstance(m, str) else decode_array(m)) > 0
        overlay = decode_png(base64.b64decode(raw["overlay"])) if isinstance(raw.get("overlay"), str) else None
        return cls(map=map_, method=raw["method"], target=raw["target"], label=raw["label"], score=raw["score"],
                   shape=list(raw["shape"]), layer=raw.get("layer"), binary=binary, overlay_image=overlay,
                   path=raw.get("path"), raw=raw)


@dataclass
class Explanations(_DictReads):
    """``explain``'s result: ``explanations``, one :class:`Explanation` per image, in order."""

    explanations: List[Explanation]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"explanations": "explanations"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Explanations":
        return cls([Explanation.from_json(e) for e in raw.get("explanations", [])], raw)

    @property
    def maps(self) -> List[Optional[np.ndarray]]:
        return [e.map for e in self.explanations]


@dataclass(eq=False)
class Sample(_DictReads):
    """One sample as the model sees it: ``image`` (numpy, the model's input: float32 (C, H, W) or as sent),
    ``mask`` (numpy, for segmentation), ``label`` and ``class_name`` (for classification), ``id``."""

    id: str
    image: np.ndarray
    mask: Optional[np.ndarray] = None
    label: Optional[int] = None
    class_name: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"image_array": "image", "mask_array": "mask"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Sample":
        mask = decode_image(raw["mask"]) if isinstance(raw.get("mask"), dict) else None
        return cls(id=raw["id"], image=decode_image(raw["image"]), mask=mask, label=raw.get("label"),
                   class_name=raw.get("class"), raw=raw)


@dataclass
class Samples(_DictReads):
    """``dataset.sample``'s result: the dataset ``name``, whether ``augment`` was applied, and ``samples``."""

    name: str
    augment: bool
    samples: List[Sample]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)
    _added: ClassVar[Dict[str, str]] = {"samples": "samples"}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Samples":
        return cls(name=raw["name"], augment=raw["augment"], samples=[Sample.from_json(s) for s in raw["samples"]],
                   raw=raw)

    @property
    def images(self) -> List[np.ndarray]:
        return [s.image for s in self.samples]

    @property
    def masks(self) -> List[Optional[np.ndarray]]:
        return [s.mask for s in self.samples]

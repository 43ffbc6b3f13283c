"""Images into the protocol's image objects, and the engine's masks and arrays back into numpy.

The engine takes an image as ``{"path": ...}``, ``{"jpeg": base64}``, ``{"png": base64}`` or a raw array
``{"array": {"dtype": "uint8"|"uint16"|"float32", "shape": [h, w] or [c, h, w], "data": base64 little-endian}}``.
Hosts usually hold file names, file contents or numpy arrays; :func:`encode_image` turns each of those into the
right object so callers never build them by hand. Masks come back as raw arrays or PNGs; :func:`decode_image`
turns either into a numpy array. PNGs go through Pillow when it is installed; a small PNG codec of its own
keeps numpy the only dependency otherwise.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union, cast

import numpy as np

PILImage: Any
try:  # optional: PNGs go through Pillow when it is installed, else through the codec below
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover - depends on the environment
    PILImage = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

ImageLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, Dict[str, Any]]


def _channels_last(shape: Tuple[int, ...]) -> bool:
    """True for a 3-D shape that is plainly one channels-last image (H, W, C with C in 1, 3, 4 and H larger
    than 4), as Pillow and imageio give them."""
    return len(shape) == 3 and shape[0] not in (1, 2, 3, 4) and shape[2] in (1, 3, 4)


def _planar(array: np.ndarray) -> np.ndarray:
    """An image array as (H, W) or (C, H, W). Arrays that are plainly channels-last (see
    :func:`_channels_last`) are moved to channels-first; anything else with three axes is taken as (C, H, W)."""
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        if _channels_last(array.shape):
            array = np.moveaxis(array, 2, 0)
        return array
    if array.ndim == 4 and array.shape[0] == 1:
        return _planar(array[0])
    raise ValueError(f"an image array must be HxW or CxHxW, got shape {array.shape}")


def encode_array(array: Any) -> Dict[str, Any]:
    """A numpy array (HxW or CxHxW; uint8 on 0..255, uint16 deep samples such as 12-bit radiographs, or float
    used as the model's input as is) as the protocol's ``{"array": {...}}`` image object. bool becomes 0/255
    uint8; other integer types must lie in 0..255 (sent as uint8) or 0..65535 (sent as uint16, windowed by the
    engine as a 16-bit PNG is: the request's ``window``, else the full scale of the bits the values use); other
    float types become float32."""
    a = _planar(np.asarray(array))
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.integer) and a.dtype not in (np.uint8, np.uint16):
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(f"integer image values must lie in 0..65535 (got {a.min()}..{a.max()}); "
                             "send float32 for other scales")
        a = a.astype(np.uint8 if not a.size or a.max() <= 255 else np.uint16)
    elif np.issubdtype(a.dtype, np.floating) and a.dtype != np.float32:
        a = a.astype(np.float32)
    if a.dtype not in (np.uint8, np.uint16, np.float32):
        raise TypeError(f"cannot send an array of dtype {a.dtype}: use uint8, uint16 or float32")
    data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return {"array": {"dtype": str(a.dtype), "shape": list(a.shape),
                      "data": base64.b64encode(data.tobytes()).decode("ascii")}}


def encode_image(image: ImageLike) -> Dict[str, Any]:
    """One image as a protocol image object.

    - a ``str`` or path-like: ``{"path": <absolute path>}`` (absolute, so it does not depend on the engine's
      working directory);
    - ``bytes``: the contents of a PNG or JPEG file (recognised by their signature);
    - a numpy array (or anything with ``__array__``, such as a PIL image): a raw array (see :func:`encode_array`);
    - a ``dict``: taken as an image object already (``{"path": ...}``, ``{"png": ...}``, ...).
    """
    if isinstance(image, dict):
        return image
    if isinstance(image, (str, os.PathLike)):
        return {"path": os.path.abspath(os.fspath(image))}
    if isinstance(image, (bytes, bytearray, memoryview)):
        raw = bytes(image)
        if raw.startswith(PNG_SIGNATURE):
            return {"png": base64.b64encode(raw).decode("ascii")}
        if raw.startswith(JPEG_SIGNATURE):
            return {"jpeg": base64.b64encode(raw).decode("ascii")}
        raise ValueError("bytes must be the contents of a PNG or JPEG file (pass arrays as numpy arrays)")
    if isinstance(image, np.ndarray) or hasattr(image, "__array__") or hasattr(image, "__array_interface__"):
        return encode_array(np.asarray(image))
    raise TypeError(f"cannot send {type(image).__name__} as an image: give a path, bytes or a numpy array")


def encode_images(images: Union[ImageLike, Iterable[ImageLike]],
                  batch: Optional[bool] = None) -> List[Dict[str, Any]]:
    """A list of image objects from one image, an iterable of images, or a numpy array of either.

    A list (or other iterable) is a batch, one image per element. A numpy array may be one image or a batch,
    and a 3-D one can be either: (3, H, W) is one RGB image or three grey ones. So the client does not guess:

    - ``batch=True``: the first axis is the batch: (N, H, W) grey images, or (N, C, H, W) / (N, H, W, C);
    - ``batch=False``: ``images`` is one image: (H, W), (C, H, W) or (H, W, C);
    - ``batch=None`` (the default): 2-D is one image and 4-D a batch; 3-D only where both readings agree or
      one is impossible: (1, H, W) (one grey image either way) and plain channels-last (H, W, C), C in 1, 3,
      4 and H > 4. Any other 3-D array raises ValueError saying how to pass it.
    """
    if batch is False:
        return [encode_image(cast(ImageLike, images))]  # one image, whatever its type allows
    if isinstance(images, np.ndarray):
        return [encode_image(x) for x in _array_images(images, batch)]
    if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview, dict)):
        if batch:
            raise ValueError("batch=True takes a list of images or an array (N, H, W) / (N, C, H, W), "
                             f"not one {type(images).__name__}")
        return [encode_image(images)]
    return [encode_image(x) for x in images]


def _array_images(array: np.ndarray, batch: Optional[bool]) -> List[np.ndarray]:
    """The images of a numpy array passed as ``images`` (the rules of :func:`encode_images`)."""
    if batch:
        if array.ndim not in (3, 4):
            raise ValueError(f"batch=True takes an array (N, H, W), (N, C, H, W) or (N, H, W, C); got shape "
                             f"{array.shape}")
        return list(array)
    if array.ndim == 4:
        return list(array)
    if array.ndim == 3 and array.shape[0] != 1 and not _channels_last(array.shape):
        n = array.shape[0]
        raise ValueError(
            f"a 3-D array of shape {array.shape} is either one image of {n} channels or a batch of {n} grey "
            f"images: pass batch=True for a batch (N, H, W), batch=False for one image (C, H, W), or a list "
            "of images")
    return [array]


def encode_mask(mask: ImageLike) -> Dict[str, Any]:
    """A training mask as a protocol mask object. The engine counts a uint8 pixel as foreground when it is
    above 127 and a float one when it is above 0.5, so bool masks and 0/1 uint8 masks are scaled to 0/255 here.
    Paths, PNG bytes and dicts are passed as for images."""
    if isinstance(mask, (np.ndarray,)) or (not isinstance(mask, (str, os.PathLike, bytes, bytearray, memoryview,
                                                                dict)) and hasattr(mask, "__array__")):
        a = np.asarray(mask)
        if a.ndim == 3 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 2:
            raise ValueError(f"a mask must be HxW, got shape {a.shape}")
        if a.dtype == np.bool_:
            a = a.astype(np.uint8) * 255
        elif np.issubdtype(a.dtype, np.integer):
            a = (a > 0).astype(np.uint8) * 255 if a.size and a.max() <= 1 else a.astype(np.uint8)
        else:
            a = a.astype(np.float32)
        return encode_array(a)
    return encode_image(mask)


def decode_array(obj: Dict[str, Any]) -> np.ndarray:
    """The numpy array of a protocol raw array ``{"dtype", "shape", "data"}`` (or ``{"array": {...}}``)."""
    if "array" in obj and isinstance(obj["array"], dict):
        obj = obj["array"]
    dtype = np.dtype(obj["dtype"]).newbyteorder("<")
    raw = base64.b64decode(obj["data"])
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(obj["shape"])


def decode_image(obj: Any) -> np.ndarray:
    """A numpy array from whatever the engine sends for an image or mask: a raw array, base64 PNG,
    probabilities (a float32 raw array, or nested numbers from ``encoding="probabilities_json"``), or a path
    to a PNG it wrote. Grey PNGs give (H, W); colour ones (H, W, C)."""
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, dict):
        if "array" in obj:
            return decode_array(obj["array"])
        if "png" in obj:
            return decode_png(base64.b64decode(obj["png"]))
        if "probabilities" in obj:
            if isinstance(obj["probabilities"], dict):
                return decode_array(obj["probabilities"])
            return np.asarray(obj["probabilities"], dtype=np.float32)
        if "path" in obj:
            with open(obj["path"], "rb") as f:
                return decode_png(f.read())
        if {"dtype", "shape", "data"} <= set(obj):
            return decode_array(obj)
    if isinstance(obj, (bytes, bytearray)):
        return decode_png(bytes(obj))
    if isinstance(obj, list):
        return np.asarray(obj, dtype=np.float32)
    raise ValueError(f"not an image or mask object: {str(obj)[:80]}")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _png_header(data: bytes) -> Tuple[int, int, int, int, int]:
    """(width, height, bit depth, colour type, interlace) from a PNG's IHDR, which the format puts first."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour, interlace


def decode_png(data: bytes) -> np.ndarray:
    """Decodes a PNG to (H, W) for grey or (H, W, C) for grey+alpha, RGB or RGBA, uint8 or uint16 (16-bit
    files). Pillow decodes it when installed (any PNG, interlaced and palette ones too); without Pillow, or for
    a 16-bit colour PNG (which Pillow narrows to 8 bits), the client's own decoder does: non-interlaced 8 and
    16-bit grey, grey+alpha, RGB and RGBA, what the engine and most tools write."""
    _, _, depth, colour, _ = _png_header(data)
    if PILImage is not None and not (depth == 16 and colour != 0):
        return _decode_png_pillow(data, depth, colour)
    return _decode_png_pure(data)


def _decode_png_pillow(data: bytes, depth: int, colour: int) -> np.ndarray:
    assert PILImage is not None
    with PILImage.open(io.BytesIO(data)) as image:
        if colour == 3:  # palette: expand to the colours it stands for
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode == "1":  # 1-bit grey: black and white as 0 and 255
            image = image.convert("L")
        pixels = np.asarray(image)
    if depth == 16:  # 16-bit grey opens as mode I or I;16
        return pixels.astype(np.uint16)
    return pixels.astype(np.uint8, copy=False)


def _decode_png_pure(data: bytes) -> np.ndarray:
    """The decoder without Pillow (see :func:`decode_png`)."""
    width, height, depth, colour, interlace = _png_header(data)
    pos = 8
    idat: List[bytes] = []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if channels is None or depth not in (8, 16) or interlace:
        raise ValueError(f"unsupported PNG (colour type {colour}, depth {depth}, interlace {interlace}): "
                         "install Pillow to decode it")
    bpp = channels * depth // 8
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    if raw.size != height * (stride + 1):
        raise ValueError("truncated PNG data")
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:]
        if kind == 0:
            current = line.copy()
        elif kind == 1:  # Sub: a running sum along each byte lane, modulo 256
            lanes = line.reshape(width, bpp).astype(np.uint32)
            current = (np.cumsum(lanes, axis=0) % 256).astype(np.uint8).reshape(stride)
        elif kind == 2:  # Up
            current = (line.astype(np.uint16) + previous).astype(np.uint8)
        elif kind in (3, 4):  # Average and Paeth depend on the byte just reconstructed: one at a time
            cur = [0] * stride
            prev = previous.tolist()
            ln = line.tolist()
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                if kind == 3:
                    cur[i] = (ln[i] + ((left + prev[i]) >> 1)) & 0xFF
                else:
                    upper_left = prev[i - bpp] if i >= bpp else 0
                    cur[i] = (ln[i] + _paeth(left, prev[i], upper_left)) & 0xFF
            current = np.array(cur, dtype=np.uint8)
        else:
            raise ValueError(f"bad PNG filter type {kind}")
        out[y] = current
        previous = current
    pixels: np.ndarray
    if depth == 16:
        pixels = out.view(">u2").astype(np.uint16).reshape(height, width, channels)
    else:
        pixels = out.reshape(height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def encode_png(array: np.ndarray) -> bytes:
    """An 8-bit PNG of an (H, W) grey or (H, W, 2|3|4) grey+alpha or colour uint8 array (bool: 0/255): enough
    to hand masks and images to the engine or to write them next to a report. Pillow writes it when installed
    (with its adaptive filtering, so smaller files); else the client's own encoder (unfiltered rows)."""
    a = np.asarray(array)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise TypeError("encode_png takes uint8 arrays")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"encode_png takes (H, W) or (H, W, 1|2|3|4) arrays, got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if PILImage is not None:
        buffer = io.BytesIO()
        PILImage.fromarray(np.ascontiguousarray(a)).save(buffer, format="PNG")
        return buffer.getvalue()
    return _encode_png_pure(a)


def _encode_png_pure(a: np.ndarray) -> bytes:
    """The encoder without Pillow (see :func:`encode_png`)."""
    if a.ndim == 2:
        a = a[:, :, None]
    height, width, channels = a.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), a.reshape(height, width * channels)], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + \
        chunk(b"IEND", b"")

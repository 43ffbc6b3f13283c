"""Python client for unet-engine: train and run U-Nets on chest X-rays through a persistent subprocess that
speaks JSON-RPC 2.0 over stdin/stdout (see Protocol/PROTOCOL.md).

    from unet_engine import Engine
    with Engine() as engine:
        engine.dataset_open("xrays", task="segmentation", phantoms={"count": 64, "size": [64, 64], "seed": 1})
        engine.model_create(architecture="unet", input_shape=[1, 64, 64], depth=3, filters=8)
        history = engine.fit("xrays", epochs=5)
        masks = engine.segment_masks(my_images)
        label = engine.predict(my_images).predictions[0].label   # a model with a classification head

numpy is the only dependency; Pillow (PNG), tqdm (progress bars) and matplotlib (``unet_engine.plots``) are used
when installed. Results are typed (``Prediction.label``, ``Mask.array``, ``History.history``; see ``results``) and
the package ships ``py.typed``.
"""

from .aio import AsyncEngine
from .binary import find_binary
from .connection import PendingCall
from .engine import Engine
from .errors import (Busy, Cancelled, CheckpointInvalid, EngineClosed, EngineDied, EngineError, EngineFileNotFound,
                     EngineIOError, EngineTimeout, ImageDecodeFailed, InternalError, InvalidParams, InvalidRequest,
                     MethodNotFound, NoModel, NotAvailable, ParseError, ShapeMismatch, TrainingDiverged,
                     UnsupportedByModel, error_from_response)
from .history import History
from .images import decode_image, decode_png, encode_image, encode_images, encode_mask, encode_png
from .results import (Explanation, Explanations, Mask, Prediction, Predictions, Sample, Samples,
                      Segmentation)

__version__ = "0.1.0"

__all__ = [
    "Engine", "AsyncEngine", "PendingCall", "History", "find_binary",
    "Prediction", "Predictions", "Mask", "Segmentation", "Explanation", "Explanations", "Sample", "Samples",
    "EngineError", "ParseError", "InvalidRequest", "MethodNotFound", "InvalidParams", "InternalError", "Cancelled",
    "NoModel", "EngineFileNotFound", "ImageDecodeFailed", "ShapeMismatch", "TrainingDiverged", "Busy",
    "CheckpointInvalid", "EngineIOError", "UnsupportedByModel", "NotAvailable", "EngineDied", "EngineClosed",
    "EngineTimeout", "error_from_response",
    "encode_image", "encode_images", "encode_mask", "decode_image", "decode_png", "encode_png",
]

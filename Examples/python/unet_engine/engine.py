"""``Engine``: a running ``unet-engine`` with one Python method per protocol method."""

from __future__ import annotations

import os
import weakref
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from .binary import find_binary
from .connection import Connection, PendingCall, ProgressCallback, kill_quietly
from .errors import Cancelled
from .history import History
from .images import ImageLike, encode_images, encode_mask
from .progress import FitProgress
from .results import Explanations, Predictions, Samples, Segmentation
from .summary import format_summary

#: Marks "use the engine's default timeout" (None means "no limit").
DEFAULT = object()

Images = Union[ImageLike, Iterable[ImageLike]]
PathArg = Union[str, "os.PathLike[str]"]
#: Windowing of deep images: [center, width], "pLOW-pHIGH" or "minmax".
Window = Union[str, Sequence[float]]
#: ``train.fit``'s callbacks: a dict by kind, or a Keras-style list of dicts naming each kind.
Callbacks = Union[Dict[str, Any], Sequence[Dict[str, Any]]]


def _clean(params: Dict[str, Any]) -> Dict[str, Any]:
    """Params without the ones left at None: the engine applies its defaults to what is not sent."""
    return {k: v for k, v in params.items() if v is not None}


def _abs(path: Optional[PathArg]) -> Optional[str]:
    """Paths are sent absolute, so they mean the same whatever the engine's working directory."""
    return None if path is None else os.path.abspath(os.fspath(path))


def _plain(value: Any) -> Any:
    """A sequence param as JSON takes it (a tuple or numpy array as a list); anything else as given, so the
    engine, not the client, says what is wrong with it."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value) if isinstance(value, tuple) else value


def _mpi_environment(env: Optional[Dict[str, str]]) -> Dict[str, str]:
    """The environment for an MPI launcher: as given, plus Open MPI's consent to run as root when we are root."""
    env = dict(os.environ if env is None else env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


class Engine:
    """A ``unet-engine`` subprocess speaking JSON-RPC 2.0 over its stdin and stdout.

    Every method sends one request and blocks until its response; many threads may call at once (requests
    are written whole under a lock, answers routed by id). Numeric requests run one at a time in the engine,
    in arrival order; ``status``, ``hello`` and ``cancel`` answer at once even during training.

    Args:
        binary: the executable (default: ``$UNET_ENGINE_BIN``, then ``unet-engine`` on PATH, then the
            checkout's ``.build/release`` or ``.build/debug``; see :func:`find_binary`).
        threads: compute threads (``--threads``; default: the engine's, one per core).
        log_level: the engine's stderr verbosity: "error", "warning", "info" or "debug".
        timeout: default seconds to wait for any one call (None: no limit). A call that times out is
            cancelled and raises :class:`EngineTimeout`.
        debug_methods: also serve ``debug.*`` (for tests of cancellation and queueing).
        max_queue, max_line_bytes: the engine's limits (``--max-queue``, ``--max-line-bytes``).
        blas_core: the OpenBLAS kernels, set as ``UNET_BLAS_CORE`` in the engine's environment: "auto" (the best
            for this CPU, even over an inherited ``OPENBLAS_CORETYPE``) or a core such as "Haswell", "Zen",
            "SkylakeX" (an unknown core, or one this CPU cannot run, stops the engine at start). Default: the
            engine decides (it corrects OpenBLAS's fallback to old kernels unless ``OPENBLAS_CORETYPE`` is set);
            ``hello()["blas"]`` tells what runs.
        args: further command-line arguments.
        env, cwd: the process's environment and working directory.
        echo_stderr: copy the engine's stderr to this process's stderr as it arrives (it is always kept:
            :meth:`stderr_tail`).
        close_timeout: seconds :meth:`close` waits for the engine to finish before terminating it.
        launcher: a command that starts the engine as a data-parallel MPI job, e.g. ``["mpirun", "-np", "2"]``:
            the engine runs as ``launcher + [binary, "--mpi", ...]``, rank 0 answers exactly as one engine would,
            and training averages gradients across the ranks (``batch_size`` is per rank). As root, Open MPI's
            ``OMPI_ALLOW_RUN_AS_ROOT`` variables are set, since mpirun otherwise refuses to start.

    Use it as a context manager, or call :meth:`close`::

        with Engine() as engine:
            engine.model_create(architecture="unet", input_shape=[1, 64, 64], depth=2, filters=8)
            masks = engine.segment(images)["masks"]
    """

    def __init__(self, binary: Optional[str] = None, threads: Optional[int] = None,
                 log_level: Optional[str] = None, timeout: Optional[float] = None, *, debug_methods: bool = False,
                 max_queue: Optional[int] = None, max_line_bytes: Optional[int] = None, args: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None, echo_stderr: bool = False,
                 close_timeout: float = 10.0, blas_core: Optional[str] = None,
                 launcher: Optional[Sequence[str]] = None):
        self.binary = find_binary(binary)
        argv = [self.binary]
        if launcher is not None:
            argv = [str(a) for a in launcher] + [self.binary, "--mpi"]
            env = _mpi_environment(env)
        if threads is not None:
            argv += ["--threads", str(int(threads))]
        if log_level is not None:
            argv += ["--log-level", str(log_level)]
        if max_queue is not None:
            argv += ["--max-queue", str(int(max_queue))]
        if max_line_bytes is not None:
            argv += ["--max-line-bytes", str(int(max_line_bytes))]
        if debug_methods:
            argv.append("--debug-methods")
        argv += list(args)
        self.argv = argv
        self.timeout = timeout
        self.close_timeout = close_timeout
        if blas_core is not None:
            if not isinstance(blas_core, str) or not blas_core:
                raise ValueError(f"blas_core must be 'auto' or an OpenBLAS core name, got {blas_core!r}")
            env = {**(os.environ if env is None else env), "UNET_BLAS_CORE": blas_core}
        self._connection = Connection(argv, env=env, cwd=cwd, echo_stderr=echo_stderr)
        self._finalizer = weakref.finalize(self, kill_quietly, self._connection.process)
        self._hello: Optional[Dict[str, Any]] = None

    # Process

    @property
    def pid(self) -> int:
        """The engine process's id."""
        return self._connection.pid

    @property
    def alive(self) -> bool:
        """True while the process runs and its output is open."""
        return self._connection.alive

    @property
    def returncode(self) -> Optional[int]:
        return self._connection.process.poll()

    def stderr_tail(self, lines: int = 40) -> str:
        """The last lines the engine wrote to stderr (its logs)."""
        return self._connection.stderr_tail(lines)

    def close(self, timeout: Optional[float] = None) -> Optional[int]:
        """Ends the engine's input: it finishes the queued requests and exits. After ``timeout`` seconds
        (default ``close_timeout``) it is terminated. Idempotent; returns the exit status."""
        code = self._connection.close(self.close_timeout if timeout is None else timeout)
        self._finalizer.detach()
        return code

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited ({self.returncode})"
        return f"<Engine pid={self.pid} {state} {self.binary}>"

    # Generic calls

    def _timeout(self, timeout: Any) -> Optional[float]:
        return self.timeout if timeout is DEFAULT else timeout

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Any = DEFAULT,
             on_progress: Optional[ProgressCallback] = None) -> Any:
        """Any method by its protocol name, with params as a dict. Returns the ``result``; raises the
        :class:`EngineError` subclass for the error's code. ``on_progress`` is called (in this thread) with the
        params of each ``progress`` notification. Ctrl-C while waiting cancels the request and re-raises."""
        return self._connection.call(method, params, self._timeout(timeout), on_progress)

    def start(self, method: str, params: Optional[Dict[str, Any]] = None, *,
              on_progress: Optional[ProgressCallback] = None) -> PendingCall:
        """Sends a request without waiting: returns a :class:`PendingCall` with ``id``, ``wait(timeout)`` and
        ``cancel()`` (usable from another thread)."""
        return self._connection.start(method, params, on_progress)

    # engine.*

    def hello(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``engine.hello``: ``name``, ``version``, ``protocol_version``, ``methods`` (every method served),
        ``architectures``, ``threads``, ``limits`` and ``blas`` (the BLAS library, version and the OpenBLAS
        core that runs: ``core``, ``chosen_by``, ``corrected``, ``restarted_from``, ``best_core``, ``cpu``)."""
        hello: Dict[str, Any] = self.call("engine.hello", timeout=timeout)
        self._hello = hello
        return hello

    @property
    def methods(self) -> List[str]:
        """The methods this engine serves (from ``engine.hello``, asked once)."""
        hello = self._hello if self._hello is not None else self.hello()
        return list(hello["methods"])

    def status(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``engine.status``, answered at once even mid-training: ``busy``, ``current`` (``id``, ``method``,
        ``progress``: the last progress notification's fields), ``queue``, ``memory_bytes``, ``uptime_s``."""
        result: Dict[str, Any] = self.call("engine.status", timeout=timeout)
        return result

    def shutdown(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``engine.shutdown``: the engine finishes the queued requests, answers ``{}`` and exits. Further calls
        raise :class:`EngineClosed`."""
        self._connection.mark_closed()
        result: Dict[str, Any] = self.call("engine.shutdown", timeout=timeout)
        self.close()
        return result

    def cancel(self, id: Union[int, str, PendingCall], *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``cancel``: stops the queued or running request ``id`` (a :class:`PendingCall` or its ``id``) at its
        next batch boundary; that request then raises :class:`Cancelled`. Raises :class:`InvalidParams` when no
        such request is queued or running."""
        request_id = id.id if isinstance(id, PendingCall) else id
        result: Dict[str, Any] = self.call("cancel", {"id": request_id}, timeout=timeout)
        return result

    # debug.* (served with debug_methods=True)

    def debug_sleep(self, seconds: Optional[float] = None, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``debug.sleep``: occupies the compute queue for ``seconds`` (cancellable), for tests of cancellation
        and queueing."""
        result: Dict[str, Any] = self.call("debug.sleep", _clean(dict(seconds=seconds)), timeout=timeout)
        return result

    def debug_ranks(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``debug.ranks``: what each MPI rank holds (for tests of ``--mpi``)."""
        result: Dict[str, Any] = self.call("debug.ranks", timeout=timeout)
        return result

    # model.*

    def model_create(self, architecture: str, input_shape: Sequence[int], classes: Optional[int] = None,
                     seed: Optional[int] = None, depth: Optional[int] = None, filters: Optional[int] = None,
                     batch_norm: Optional[bool] = None, upsampling: Optional[str] = None,
                     classification_head: Union[int, Dict[str, Any], None] = None, dropout: Optional[float] = None, *,
                     encoder: Optional[str] = None, decoder: Optional[str] = None,
                     decoder_channels: Optional[Sequence[int]] = None, drop_path_rate: Optional[float] = None,
                     in_channels: Optional[int] = None, deep_supervision: Optional[bool] = None,
                     bn_momentum: Optional[float] = None, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.create``: a new model replaces the current one (only once it is built). Parameters left at
        None are not sent: the architecture's defaults apply (``model_architectures()`` lists them), and one
        that the architecture does not take raises :class:`InvalidParams` naming the ones it does.

        Args:
            architecture: "unet-classifier" (the reference image classifier), "unet" (a segmentation U-Net) or
                "eff-unet" (an EfficientNet encoder with a UNet++ or U-Net decoder).
            input_shape: [C, H, W] of the input images.
            classes: output classes (the classifier's, or the mask channels).
            seed: weight initialisation seed.
            depth, filters, batch_norm, upsampling ("transpose", "bilinear", "nearest"), dropout (at the
                bottleneck): the unet's shape.
            classification_head: for "unet", the number of classes of an optional image-level head (so the same
                model can ``predict`` as well as ``segment``); for "eff-unet", the head as a dict
                ``{"classes": K, "from": "encoder" | "mask", "pooling": "avg" | "max", "dropout": p}`` (only
                ``classes`` is required; "mask" is the seed's head on the pooled mask logits).
            encoder ("efficientnet-b0" ... "b3"), decoder ("unetplusplus", "unet"), decoder_channels,
                drop_path_rate, in_channels (1 or 3; input_shape's C by default), deep_supervision (UNet++'s
                extra heads, averaged at inference), bn_momentum (the encoder's BatchNorm momentum, PyTorch
                convention; smp's 0.01 by default, 0.1 makes the running statistics follow a short run): the
                eff-unet's settings (segmentation_models_pytorch's names).

        Returns ``model.summary``'s result.
        """
        p = _clean(dict(architecture=architecture, input_shape=list(input_shape), classes=classes, seed=seed,
                        depth=depth, filters=filters, batch_norm=batch_norm, upsampling=upsampling,
                        classification_head=classification_head, dropout=dropout, encoder=encoder, decoder=decoder,
                        decoder_channels=None if decoder_channels is None else list(decoder_channels),
                        drop_path_rate=drop_path_rate, in_channels=in_channels, deep_supervision=deep_supervision,
                        bn_momentum=bn_momentum))
        result: Dict[str, Any] = self.call("model.create", p, timeout=timeout)
        return result

    def model_architectures(self, *, timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        """``model.architectures``: every architecture ``model_create`` builds, each {``name``, ``description``,
        ``parameters`` [{``name``, ``type``, ``default``, range or ``choices``, ``description``}]}."""
        architectures: List[Dict[str, Any]] = self.call("model.architectures", timeout=timeout)["architectures"]
        return architectures

    def model_summary(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.summary``: ``architecture``, ``input_shape``, ``layers`` [{``name``, ``type``,
        ``output_shape``, ``params``}], ``total_params``, ``trainable_params`` and the ``config``."""
        result: Dict[str, Any] = self.call("model.summary", timeout=timeout)
        return result

    def summary_table(self, summary: Optional[Dict[str, Any]] = None, *, timeout: Any = DEFAULT) -> str:
        """The model as Keras' ``model.summary()`` prints it: ``Layer (type)``, ``Output Shape`` (per image,
        ``None`` for the batch axis, channels first), ``Param #``, and the totals. Built from ``summary`` (a
        ``model.summary`` or ``model.create`` result) or, by default, from a fresh ``model.summary``::

            print(engine.summary_table())
        """
        return format_summary(summary if summary is not None else self.model_summary(timeout=timeout))

    def model_save(self, path: PathArg, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.save``: writes a safetensors checkpoint (weights, optimizer and training state) atomically.
        Returns ``path`` and ``bytes``."""
        result: Dict[str, Any] = self.call("model.save", {"path": _abs(path)}, timeout=timeout)
        return result

    def model_load(self, path: PathArg, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.load``: makes the checkpoint at ``path`` the current model (and resumes its training
        state). A Keras ``.h5`` or ``.keras`` file loads its weights into a new model like the current
        ``unet-classifier``. A bad file leaves the current model as it was. Returns ``model.summary``'s result."""
        result: Dict[str, Any] = self.call("model.load", {"path": _abs(path)}, timeout=timeout)
        return result

    # dataset.*

    def dataset_open(self, name: str, task: Optional[str] = None, root: Optional[PathArg] = None,
                     images: Optional[PathArg] = None, masks: Optional[PathArg] = None,
                     manifest: Optional[PathArg] = None, phantoms: Optional[Dict[str, Any]] = None,
                     input_shape: Optional[Sequence[int]] = None, validation_split: Optional[float] = None,
                     group_pattern: Optional[str] = None, seed: Optional[int] = None,
                     augment: Optional[Dict[str, Any]] = None, *, mask_suffix: Optional[str] = None,
                     letterbox: Optional[bool] = None, normalization: Optional[Dict[str, Any]] = None,
                     cache_mb: Optional[int] = None, mask_format: Optional[str] = None, window: Optional[Window] = None,
                     frame: Optional[int] = None, tile: Optional[bool] = None,
                     harmonize: Optional[Dict[str, Any]] = None, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``dataset.open``: registers a dataset under ``name`` from one source.

        Args:
            name: the name later calls use (``train_fit(dataset=name)``).
            task: "classification" or "segmentation".
            root: a folder of class folders (classes in sorted order, as Keras' ``flow_from_directory``).
            images, masks: an images folder and a masks folder matched by file name (segmentation);
                ``mask_suffix``: masks named NAME<suffix>.png for image NAME.*.
            manifest: a CSV or JSON-lines file of ``path``, ``label``, ``mask``.
            phantoms: synthetic chest X-rays: ``{"count": N, "size": [H, W], "seed": S}``.
            input_shape: [C, H, W] the images are brought to (``letterbox=True`` keeps the aspect ratio).
            validation_split: fraction split off as dataset ``NAME.val``; ``group_pattern`` (a regex on the
                file name) keeps one patient's images on one side; ``seed`` makes the split repeatable.
            augment: training-time augmentation settings.
            normalization: ``{"mode": "rescale", "scale": s}``, ``{"mode": "standardize", "mean", "std"}`` or
                ``{"mode": "per_image"}``.
            cache_mb: decoded images kept in memory (MiB; 0 decodes every batch again).
            mask_format: "auto", "binary" or "index" (class indices).
            window, frame: windowing of deep images and the frame of a multi-frame DICOM (see :meth:`predict`).
            tile: train on random crops of ``input_shape``'s size from full-resolution images.
            harmonize: preprocessing against scanner differences, e.g. ``{"crop_borders": True,
                "clahe": {"clip_limit": 2, "tile_grid": [8, 8]}}`` (also ``percentiles``, ``equalize``); stored in
                checkpoints and repeated by :meth:`predict` and :meth:`segment`.

        Returns ``name``, ``size``, ``classes``, ``counts``, ``skipped`` [{``path``, ``error``}] and
        ``validation``.
        """
        p = _clean(dict(name=name, task=task, root=_abs(root), images=_abs(images), masks=_abs(masks),
                        mask_suffix=mask_suffix, manifest=_abs(manifest), phantoms=phantoms,
                        input_shape=None if input_shape is None else list(input_shape),
                        validation_split=validation_split, group_pattern=group_pattern, seed=seed, augment=augment,
                        letterbox=letterbox, normalization=normalization, cache_mb=cache_mb, mask_format=mask_format,
                        window=_plain(window), frame=frame, tile=tile, harmonize=harmonize))
        result: Dict[str, Any] = self.call("dataset.open", p, timeout=timeout)
        return result

    def dataset_list(self, *, timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        """``dataset.list``: the open datasets, [{``name``, ``task``, ``size``, ``classes``, ``cache_bytes``}]
        (the result's ``datasets``)."""
        datasets: List[Dict[str, Any]] = self.call("dataset.list", timeout=timeout)["datasets"]
        return datasets

    def dataset_close(self, name: str, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``dataset.close``: forgets dataset ``name``."""
        result: Dict[str, Any] = self.call("dataset.close", {"name": name}, timeout=timeout)
        return result

    def dataset_sample(self, name: str, count: Optional[int] = None, augment: Optional[bool] = None, *,
                       epoch: Optional[int] = None, start: Optional[int] = None, shuffle: Optional[bool] = None,
                       seed: Optional[int] = None, timeout: Any = DEFAULT) -> Samples:
        """``dataset.sample``: ``count`` samples exactly as the model will see them, with augmentation when
        ``augment`` is true, from ``start`` in the dataset's order; ``shuffle=True`` (with ``epoch``, ``seed``)
        gives them in the seeded order ``train.fit`` uses in that epoch. Returns :class:`Samples`: each
        :class:`Sample` has ``image`` and ``mask`` as numpy arrays, ``label``, ``class_name`` and ``id``."""
        p = _clean(dict(name=name, count=count, augment=augment, epoch=epoch, start=start, shuffle=shuffle,
                        seed=seed))
        return Samples.from_json(self.call("dataset.sample", p, timeout=timeout))

    def dataset_files(self, name: str, offset: Optional[int] = None, limit: Optional[int] = None, *,
                      page_size: int = 1000, timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        """``dataset.files``: the dataset's (or split's, e.g. ``"lungs.val"``) files in order from ``offset``
        (default 0), at most ``limit`` of them (default: all, asked ``page_size`` at a time), each {``index``,
        ``id``, ``path``, ``mask``, ``label``, ``class``}, without decoding or sending any image."""
        files: List[Dict[str, Any]] = []
        next_offset: Optional[int] = 0 if offset is None else offset
        while next_offset is not None and (limit is None or len(files) < limit):
            size = page_size if limit is None else min(page_size, limit - len(files))
            page = self.call("dataset.files", {"name": name, "offset": next_offset, "limit": size}, timeout=timeout)
            files += page["files"]
            next_offset = page["next_offset"]
        return files

    # train.*

    def train_configure(self, optimizer: Optional[str] = None, learning_rate: Optional[float] = None,
                        weight_decay: Optional[float] = None, momentum: Optional[float] = None,
                        loss: Optional[Union[str, Dict[str, Any]]] = None,
                        class_weights: Optional[Union[str, Sequence[float]]] = None,
                        batch_size: Optional[int] = None, seed: Optional[int] = None, *,
                        nesterov: Optional[bool] = None, augment: Optional[bool] = None,
                        lr_schedule: Optional[Dict[str, Any]] = None, sync_batch_norm: Optional[bool] = None,
                        timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``train.configure``: changes the training settings given; the others keep their values.

        Args:
            optimizer: "adam", "adamw" or "sgd" (a different optimizer starts with fresh state).
            learning_rate, weight_decay, momentum, nesterov: the optimizer's settings; the learning rate
                defaults to 1e-3, Adam's default in PyTorch and Keras.
            loss: "auto" (the default: bce+dice for a 1-channel mask, ce for a K-class mask, ce/bce for a
                softmax/sigmoid class head), "bce", "ce", "dice" or "bce+dice"; one that fits none of the
                model's outputs raises :class:`InvalidParams` listing the choices; or one per head by name with
                weights: ``{"mask": "bce+dice", "class": {"name": "ce", "weight": 0.5}}``.
            class_weights: "balanced" (from the dataset's counts) or a list, one weight per class.
            batch_size, seed: the batch size and the shuffling seed.
            augment: apply the dataset's augmentation while training.
            lr_schedule: a learning-rate schedule, e.g. ``{"type": "cosine", "decay_steps": 1000,
                "warmup_steps": 100}`` (PROTOCOL.md lists the types and their formulas).
            sync_batch_norm: under ``launcher`` (MPI), BatchNorm uses the global batch's statistics.

        Returns the whole configuration in force.
        """
        weights = class_weights if isinstance(class_weights, (str, type(None))) else [float(w) for w in class_weights]
        p = _clean(dict(optimizer=optimizer, learning_rate=learning_rate, weight_decay=weight_decay,
                        momentum=momentum, nesterov=nesterov, loss=loss, class_weights=weights, batch_size=batch_size,
                        seed=seed, augment=augment, lr_schedule=lr_schedule, sync_batch_norm=sync_batch_norm))
        result: Dict[str, Any] = self.call("train.configure", p, timeout=timeout)
        return result

    def train_step(self, dataset: Optional[str] = None, images: Optional[Images] = None,
                   labels: Optional[Sequence[int]] = None, masks: Optional[Iterable[ImageLike]] = None, *,
                   resize: Optional[bool] = None, batch: Optional[bool] = None,
                   timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``train.step``: one optimizer step, on the next batch of ``dataset`` or on inline ``images`` with
        ``labels`` (class indices) and/or ``masks`` (HxW arrays: bool, 0/1 or 0/255 uint8, or float
        probabilities; or paths or PNG bytes; an (N, H, W) array is N masks). ``batch=True`` reads an images
        array (N, H, W) as N grey images (see :meth:`predict`); ``resize`` as for :meth:`predict`. Returns
        ``step``, ``loss``, ``learning_rate``, ``metrics``."""
        p: Dict[str, Any] = {}
        if dataset is not None:
            p["dataset"] = dataset
        if images is not None:
            p["images"] = encode_images(images, batch)
        if labels is not None:
            p["labels"] = [int(x) for x in np.asarray(labels).ravel()]
        if masks is not None:
            if isinstance(masks, np.ndarray) and masks.ndim == 2:
                masks = [masks]
            p["masks"] = [encode_mask(m) for m in masks]
        if resize is not None:
            p["resize"] = resize
        result: Dict[str, Any] = self.call("train.step", p, timeout=timeout)
        return result

    def train_fit(self, dataset: str, validation: Optional[str] = None, epochs: Optional[int] = None,
                  batch_size: Optional[int] = None, callbacks: Optional[Callbacks] = None, *,
                  shuffle: Optional[bool] = None, threshold: Optional[float] = None,
                  on_progress: Optional[ProgressCallback] = None, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``train.fit``: trains on ``dataset`` for ``epochs`` (default 1), validating on ``validation`` after
        each epoch.

        Args:
            callbacks: ``{"reduce_lr_on_plateau": {...}, "early_stopping": {...}, "checkpoint": {"path": ...}}``
                with Keras' settings (``monitor``, ``patience``, ``factor``, ``min_delta``, ``mode``, ...), or
                a Keras-style list naming each kind: ``[{"name": "EarlyStopping", "patience": 3}, ...]``. A
                ``monitor`` must be a metric the fit reports (the error lists them).
            shuffle: shuffle each epoch. threshold: the threshold of the validation metrics.
            on_progress: called with each ``progress`` notification's params: ``kind`` "step" (``epoch``,
                ``step``, ``steps_per_epoch``, ``loss``, ``images_per_second``, ``eta_s``) or "epoch" (the
                epoch's metrics and ``learning_rate``).

        Returns ``history`` (per-epoch metrics), ``stopped_early``, ``best``, ``cancelled``, ``epoch``,
        ``batch_in_epoch``. A cancelled fit raises :class:`Cancelled` whose ``data`` holds that result so far;
        :meth:`fit` turns that into a partial :class:`History`.
        """
        result: Dict[str, Any] = self.call(
            "train.fit", _fit_params(dataset, validation, epochs, batch_size, callbacks, shuffle, threshold),
            timeout=timeout, on_progress=on_progress)
        return result

    def fit(self, dataset: str, validation: Optional[str] = None, epochs: Optional[int] = None,
            batch_size: Optional[int] = None, callbacks: Optional[Callbacks] = None, *,
            shuffle: Optional[bool] = None, threshold: Optional[float] = None, progress: Any = "auto",
            callback: Optional[ProgressCallback] = None, timeout: Any = DEFAULT,
            cancel_timeout: float = 120.0) -> History:
        """Trains like :meth:`train_fit`, for people: shows progress and survives Ctrl-C.

        Args:
            progress: "auto"/True: a tqdm bar per epoch when tqdm is installed, else a text line on stderr;
                "text": the text line; False: nothing; or an object with ``update(params)``, ``note(text)`` and
                ``close()`` (such as ``unet_engine.progress.FitProgress(None)`` for a fit of open-ended length).
            callback: called with each ``progress`` notification's params (see :meth:`train_fit`).
            cancel_timeout: after Ctrl-C, how long to wait for the engine to stop at a batch boundary.

        Returns a :class:`History` (a list of per-epoch metrics dicts with ``stopped_early``, ``cancelled``,
        ``best``; ``history.history`` is Keras' dict of lists). Ctrl-C (or a ``cancel`` from another thread)
        sends ``cancel``, waits for the engine to stop after the current batch, and returns the partial history
        with ``cancelled`` set; the model keeps the weights of the last finished step.
        """
        # The bar's length: the epochs asked for, or the engine's default of one.
        display = progress if hasattr(progress, "update") else FitProgress(1 if epochs is None else epochs, progress)

        def on_progress(p: Dict[str, Any]) -> None:
            display.update(p)
            if callback is not None:
                callback(p)

        pending = self.start("train.fit", _fit_params(dataset, validation, epochs, batch_size, callbacks, shuffle,
                                                      threshold), on_progress=on_progress)
        result: Dict[str, Any]
        try:
            try:
                result = pending.wait(self._timeout(timeout))
            except KeyboardInterrupt:
                display.note("interrupted: stopping after the current batch ...")
                pending.cancel()
                result = pending.wait(cancel_timeout)
        except Cancelled as e:
            result = dict(e.data) if isinstance(e.data, dict) else {"history": []}
            result["cancelled"] = True
        finally:
            display.close()
        return History.from_result(result)

    def evaluate(self, dataset: str, threshold: Optional[float] = None, *, batch_size: Optional[int] = None,
                 per_image: Optional[bool] = None, postprocess: Optional[Dict[str, Any]] = None,
                 timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``evaluate``: the model scored on ``dataset``, ``batch_size`` images per forward; ``postprocess``
        cleans each label mask first (as for :meth:`segment`).

        Classification: ``loss``, ``accuracy``, ``precision``, ``recall``, ``specificity``, ``f1``, ``auc``,
        ``pr_auc``, ``confusion_matrix`` (rows: true class), ``roc`` {``fpr``, ``tpr``, ``thresholds``},
        ``report``. Segmentation: ``dice``, ``iou``, ``pixel_accuracy``. ``per_image=True`` adds ``per_image``,
        one dict per image: ``dice``/``iou``/``pixel_accuracy`` for masks; ``id``, ``label``, ``class``,
        ``probabilities``, ``predicted`` for a class head (scikit-learn's ``y_true`` and ``y_score``)."""
        p = _clean(dict(dataset=dataset, threshold=threshold, batch_size=batch_size, per_image=per_image,
                        postprocess=postprocess))
        result: Dict[str, Any] = self.call("evaluate", p, timeout=timeout)
        return result

    # inference

    def predict(self, images: Images, threshold: Optional[float] = None, *, resize: Optional[bool] = None,
                batch_size: Optional[int] = None, window: Optional[Window] = None, frame: Optional[int] = None,
                include_patient_id: Optional[bool] = None, tta: Optional[Sequence[str]] = None,
                harmonize: Optional[Dict[str, Any]] = None, batch: Optional[bool] = None,
                timeout: Any = DEFAULT) -> Predictions:
        """``predict``: image-level classes, one :class:`Prediction` (``label``, ``class_index``,
        ``probabilities``) per image.

        Args:
            images: one image or a list: paths, PNG/JPEG/DICOM files, bytes, numpy arrays (HxW or CxHxW, uint8
                0..255, uint16 or float32 as the model's input), or image dicts. A numpy batch is (N, C, H, W); a
                3-D array (N, H, W) is a batch of grey images only with ``batch=True`` (with ``batch=False`` it
                is one image (C, H, W)): as (3, H, W) could be either, a 3-D array that is not plainly one image
                raises ValueError unless ``batch`` says which.
            threshold: for a model whose class output is one sigmoid unit, class 1 at or above it (default
                0.5); for more outputs the largest wins and a threshold raises :class:`InvalidParams`.
            resize: every image is brought to the model's input size (default True); False runs a unet at the
                image's own size.
            batch_size: consecutive images of one size that share a forward (default 4).
            window: windowing of deep images: [center, width], "pLOW-pHIGH" percentiles or "minmax".
            frame: the frame of a multi-frame DICOM. include_patient_id: add PatientID to the DICOM tags.
            tta: test-time augmentation views ("hflip", "vflip", "scale:F1,F2"), probabilities averaged.
            harmonize: replaces the dataset's or checkpoint's harmonization (``{}``: none).
        """
        p = dict(images=encode_images(images, batch))
        p.update(_clean(dict(threshold=threshold, resize=resize, batch_size=batch_size, window=_plain(window),
                             frame=frame, include_patient_id=include_patient_id, tta=_plain(tta),
                             harmonize=harmonize)))
        return Predictions.from_json(self.call("predict", p, timeout=timeout))

    def segment(self, images: Images, threshold: Optional[float] = None, encoding: Optional[str] = None,
                output_dir: Optional[PathArg] = None, *, resize: Optional[bool] = None,
                batch_size: Optional[int] = None, window: Optional[Window] = None, frame: Optional[int] = None,
                include_patient_id: Optional[bool] = None, tta: Optional[Sequence[str]] = None,
                tile: Optional[Dict[str, Any]] = None, harmonize: Optional[Dict[str, Any]] = None,
                postprocess: Optional[Dict[str, Any]] = None, batch: Optional[bool] = None,
                timeout: Any = DEFAULT) -> Segmentation:
        """``segment``: one :class:`Mask` per image, at the image's own size; ``Mask.array`` is the numpy mask
        (uint8 0/255, or class indices for a multi-class model; float32 probabilities, (H, W) or (K, H, W) for K
        classes, with the probabilities encodings).

        Args:
            images, batch, resize, batch_size, window, frame, include_patient_id, tta, harmonize: as for
                :meth:`predict` (a border crop of ``harmonize`` is undone on the returned mask).
            threshold: the foreground threshold of a one-channel mask (default 0.5).
            encoding: how the mask travels: "array" (the client's default: fastest), "png", "probabilities"
                (float32, sent as base64) or "probabilities_json" (the same as nested JSON numbers).
            output_dir: write each mask as a PNG there instead (``Mask.path``; ``Mask.array`` is then None).
            tile: sliding-window inference at full resolution, ``{"size": [h, w], "overlap": 0.25, ...}``.
            postprocess: clean-up of label masks, e.g. ``{"keep_largest": 2, "fill_holes": True,
                "opening": 1}`` (also for :meth:`evaluate`).
        """
        if encoding is None and output_dir is None:
            encoding = "array"
        p = dict(images=encode_images(images, batch))
        p.update(_clean(dict(threshold=threshold, encoding=encoding, output_dir=_abs(output_dir), resize=resize,
                             batch_size=batch_size, window=_plain(window), frame=frame,
                             include_patient_id=include_patient_id, tta=_plain(tta), tile=tile, harmonize=harmonize,
                             postprocess=postprocess)))
        return Segmentation.from_json(self.call("segment", p, timeout=timeout))

    def segment_masks(self, images: Images, threshold: Optional[float] = None, *, resize: Optional[bool] = None,
                      batch_size: Optional[int] = None, window: Optional[Window] = None, frame: Optional[int] = None,
                      include_patient_id: Optional[bool] = None, tta: Optional[Sequence[str]] = None,
                      tile: Optional[Dict[str, Any]] = None, harmonize: Optional[Dict[str, Any]] = None,
                      postprocess: Optional[Dict[str, Any]] = None, batch: Optional[bool] = None,
                      timeout: Any = DEFAULT) -> List[np.ndarray]:
        """The masks of :meth:`segment` alone (the "array" encoding), as a list of numpy arrays (H, W)."""
        result = self.segment(images, threshold, "array", resize=resize, batch_size=batch_size, window=window,
                              frame=frame, include_patient_id=include_patient_id, tta=tta, tile=tile,
                              harmonize=harmonize, postprocess=postprocess, batch=batch, timeout=timeout)
        return [m.array for m in result.masks if m.array is not None]

    def explain(self, images: Images, method: Optional[str] = None, target: Optional[Union[int, str]] = None, *,
                layer: Optional[str] = None, threshold: Optional[float] = None, normalize: Optional[str] = None,
                encoding: Optional[str] = None, overlay: Optional[bool] = None,
                output_dir: Optional[PathArg] = None, samples: Optional[int] = None, noise: Optional[float] = None,
                seed: Optional[int] = None, steps: Optional[int] = None, resize: Optional[bool] = None,
                batch_size: Optional[int] = None, window: Optional[Window] = None, frame: Optional[int] = None,
                include_patient_id: Optional[bool] = None, harmonize: Optional[Dict[str, Any]] = None,
                batch: Optional[bool] = None, timeout: Any = DEFAULT) -> Explanations:
        """``explain``: where the model looks for a class, one :class:`Explanation` per image at the image's own
        size; ``Explanation.map`` is the float32 numpy map (H, W).

        Args:
            images, batch, resize, batch_size, window, frame, include_patient_id, harmonize: as for
                :meth:`predict`.
            method: "gradcam" (the default), "gradcam++", "saliency", "smoothgrad" (``samples``, ``noise``,
                ``seed``), "integrated_gradients" (``steps``) or "class_map".
            target: the class to explain, an index or a class name (default: each image's predicted class).
            layer: Grad-CAM's layer, a node name from :meth:`model_summary` (default: the deepest encoder feature).
            threshold: also return each map's binary mask of map >= threshold (numpy bool, ``Explanation.binary``).
            normalize: "minmax" (default; "raw" for class_map) or "raw".
            encoding: how the map travels: "probabilities" (the client's default: float32), "png", "array" or
                "probabilities_json".
            overlay: also return the image with the map as a heat overlay (``Explanation.overlay_image``, RGB).
            output_dir: write each map (and overlay) as a PNG there instead (``Explanation.path``).
        """
        if encoding is None and output_dir is None:
            encoding = "probabilities"
        p = dict(images=encode_images(images, batch))
        p.update(_clean(dict(method=method, target=target, layer=layer, threshold=threshold, normalize=normalize,
                             encoding=encoding, overlay=overlay, output_dir=_abs(output_dir), samples=samples,
                             noise=noise, seed=seed, steps=steps, resize=resize, batch_size=batch_size,
                             window=_plain(window), frame=frame, include_patient_id=include_patient_id,
                             harmonize=harmonize)))
        return Explanations.from_json(self.call("explain", p, timeout=timeout))

    def explain_maps(self, images: Images, method: Optional[str] = None, target: Optional[Union[int, str]] = None, *,
                     layer: Optional[str] = None, normalize: Optional[str] = None, samples: Optional[int] = None,
                     noise: Optional[float] = None, seed: Optional[int] = None, steps: Optional[int] = None,
                     resize: Optional[bool] = None, batch_size: Optional[int] = None, window: Optional[Window] = None,
                     frame: Optional[int] = None, include_patient_id: Optional[bool] = None,
                     harmonize: Optional[Dict[str, Any]] = None, batch: Optional[bool] = None,
                     timeout: Any = DEFAULT) -> List[np.ndarray]:
        """The maps of :meth:`explain` alone, as a list of float32 numpy arrays (H, W)."""
        result = self.explain(images, method, target, layer=layer, normalize=normalize, samples=samples, noise=noise,
                              seed=seed, steps=steps, resize=resize, batch_size=batch_size, window=window,
                              frame=frame, include_patient_id=include_patient_id, harmonize=harmonize, batch=batch,
                              timeout=timeout)
        return [e.map for e in result.explanations if e.map is not None]


def _fit_params(dataset: str, validation: Optional[str], epochs: Optional[int], batch_size: Optional[int],
                callbacks: Optional[Callbacks], shuffle: Optional[bool], threshold: Optional[float]) -> Dict[str, Any]:
    """``train.fit``'s params, with a checkpoint callback's path made absolute."""
    def absolute(cb: Any) -> Any:
        return dict(cb, path=_abs(cb["path"])) if isinstance(cb, dict) and "path" in cb else cb
    if isinstance(callbacks, dict) and "checkpoint" in callbacks:
        callbacks = dict(callbacks, checkpoint=absolute(callbacks["checkpoint"]))
    elif isinstance(callbacks, (list, tuple)):
        callbacks = [absolute(cb) for cb in callbacks]
    return _clean(dict(dataset=dataset, validation=validation, epochs=epochs, batch_size=batch_size,
                       callbacks=callbacks, shuffle=shuffle, threshold=threshold))

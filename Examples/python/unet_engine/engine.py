"""``Engine``: a running ``unet-engine`` with one Python method per protocol method."""

from __future__ import annotations

import base64
import os
import weakref
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from .binary import find_binary
from .connection import Connection, PendingCall, ProgressCallback, kill_quietly
from .errors import Cancelled
from .history import History
from .images import ImageLike, decode_array, decode_image, decode_png, encode_images, encode_mask
from .progress import FitProgress
from .summary import format_summary

#: Marks "use the engine's default timeout" (None means "no limit").
DEFAULT = object()

Images = Union[ImageLike, Iterable[ImageLike]]


def _clean(params: Dict[str, Any]) -> Dict[str, Any]:
    """Params without the ones left at None: the engine applies its defaults to what is not sent."""
    return {k: v for k, v in params.items() if v is not None}


def _abs(path: Optional[Union[str, "os.PathLike[str]"]]) -> Optional[str]:
    """Paths are sent absolute, so they mean the same whatever the engine's working directory."""
    return None if path is None else os.path.abspath(os.fspath(path))


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

    def __exit__(self, *exc) -> None:
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
        self._hello = self.call("engine.hello", timeout=timeout)
        return self._hello

    @property
    def methods(self) -> List[str]:
        """The methods this engine serves (from ``engine.hello``, asked once)."""
        if self._hello is None:
            self.hello()
        return list(self._hello["methods"])

    def status(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``engine.status``, answered at once even mid-training: ``busy``, ``current`` (``id``, ``method``,
        ``progress``: the last progress notification's fields), ``queue``, ``memory_bytes``, ``uptime_s``."""
        return self.call("engine.status", timeout=timeout)

    def shutdown(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``engine.shutdown``: the engine finishes the queued requests, answers ``{}`` and exits. Further calls
        raise :class:`EngineClosed`."""
        self._connection.mark_closed()
        result = self.call("engine.shutdown", timeout=timeout)
        self.close()
        return result

    def cancel(self, id: Any, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``cancel``: stops the queued or running request ``id`` (a :class:`PendingCall`'s ``id``) at its next
        batch boundary; that request then raises :class:`Cancelled`. Raises :class:`InvalidParams` when no
        such request is queued or running."""
        if isinstance(id, PendingCall):
            id = id.id
        return self.call("cancel", {"id": id}, timeout=timeout)

    # model.*

    def model_create(self, architecture: str, input_shape: Sequence[int], classes: Optional[int] = None,
                     seed: Optional[int] = None, depth: Optional[int] = None, filters: Optional[int] = None,
                     batch_norm: Optional[bool] = None, upsampling: Optional[str] = None,
                     classification_head: Union[int, Dict[str, Any], None] = None, dropout: Optional[float] = None, *,
                     timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``model.create``: a new model replaces the current one (only once it is built).

        Args:
            architecture: "unet-classifier" (the reference image classifier) or "unet" (a segmentation U-Net);
                ``model_architectures()`` lists every name with its parameters (pass others as keywords).
            input_shape: [C, H, W] of the input images.
            classes: output classes (the classifier's, or the unet's mask channels).
            seed: weight initialisation seed.
            depth, filters, batch_norm, upsampling ("transpose", "bilinear", "nearest"): the unet's shape.
            classification_head: for "unet", the number of classes of an optional image-level head (so the same
                model can ``predict`` as well as ``segment``); for "eff-unet", the head as a dict
                ``{"classes": K, "from": "encoder" | "mask", "pooling": "avg" | "max", "dropout": p}`` (only
                ``classes`` is required; "mask" is the seed's head on the pooled mask logits).
            dropout: for "unet", dropout at the bottleneck.

        Returns ``model.summary``'s result.
        """
        p = _clean(dict(architecture=architecture, input_shape=list(input_shape), classes=classes, seed=seed,
                        depth=depth, filters=filters, batch_norm=batch_norm, upsampling=upsampling,
                        classification_head=classification_head, dropout=dropout, **params))
        return self.call("model.create", p, timeout=timeout)

    def model_architectures(self, *, timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        """``model.architectures``: every architecture ``model_create`` builds, each {``name``, ``description``,
        ``parameters`` [{``name``, ``type``, ``default``, range or ``choices``, ``description``}]}."""
        return self.call("model.architectures", timeout=timeout)["architectures"]

    def model_summary(self, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.summary``: ``architecture``, ``input_shape``, ``layers`` [{``name``, ``type``,
        ``output_shape``, ``params``}], ``total_params``, ``trainable_params`` and the ``config``."""
        return self.call("model.summary", timeout=timeout)

    def summary_table(self, summary: Optional[Dict[str, Any]] = None, *, timeout: Any = DEFAULT) -> str:
        """The model as Keras' ``model.summary()`` prints it: ``Layer (type)``, ``Output Shape`` (per image,
        ``None`` for the batch axis, channels first), ``Param #``, and the totals. Built from ``summary`` (a
        ``model.summary`` or ``model.create`` result) or, by default, from a fresh ``model.summary``::

            print(engine.summary_table())
        """
        return format_summary(summary if summary is not None else self.model_summary(timeout=timeout))

    def model_save(self, path: Union[str, "os.PathLike[str]"], *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.save``: writes a safetensors checkpoint (weights, optimizer and training state) atomically.
        Returns ``path`` and ``bytes``."""
        return self.call("model.save", {"path": _abs(path)}, timeout=timeout)

    def model_load(self, path: Union[str, "os.PathLike[str]"], *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``model.load``: makes the checkpoint at ``path`` the current model (and resumes its training
        state). A Keras ``.h5`` or ``.keras`` file loads its weights into a new model like the current
        ``unet-classifier``. A bad file leaves the current model as it was. Returns ``model.summary``'s result."""
        return self.call("model.load", {"path": _abs(path)}, timeout=timeout)

    # dataset.*

    def dataset_open(self, name: str, task: Optional[str] = None, root: Optional[str] = None,
                     images: Optional[str] = None, masks: Optional[str] = None, manifest: Optional[str] = None,
                     phantoms: Optional[Dict[str, Any]] = None, input_shape: Optional[Sequence[int]] = None,
                     validation_split: Optional[float] = None, group_pattern: Optional[str] = None,
                     seed: Optional[int] = None, augment: Optional[Dict[str, Any]] = None, *,
                     timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``dataset.open``: registers a dataset under ``name`` from one source.

        Args:
            name: the name later calls use (``train_fit(dataset=name)``).
            task: "classification" or "segmentation".
            root: a folder of class folders (classes in sorted order, as Keras' ``flow_from_directory``).
            images, masks: an images folder and a masks folder matched by file name (segmentation).
            manifest: a CSV or JSON-lines file of ``path``, ``label``, ``mask``.
            phantoms: synthetic chest X-rays: ``{"count": N, "size": [H, W], "seed": S}``.
            input_shape: [C, H, W] the images are brought to.
            validation_split: fraction split off as dataset ``NAME.val``; ``group_pattern`` (a regex on the
                file name) keeps one patient's images on one side; ``seed`` makes the split repeatable.
            augment: training-time augmentation settings.
            harmonize (keyword): preprocessing against scanner differences, e.g. ``{"crop_borders": True,
                "clahe": {"clip_limit": 2, "tile_grid": [8, 8]}}`` (also ``percentiles``, ``equalize``); stored in
                checkpoints and repeated by :meth:`predict` and :meth:`segment`.

        Returns ``name``, ``size``, ``classes``, ``counts``, ``skipped`` [{``path``, ``error``}] and
        ``validation``.
        """
        p = _clean(dict(name=name, task=task, root=_abs(root), images=_abs(images), masks=_abs(masks),
                        manifest=_abs(manifest), phantoms=phantoms,
                        input_shape=None if input_shape is None else list(input_shape),
                        validation_split=validation_split, group_pattern=group_pattern, seed=seed, augment=augment,
                        **params))
        return self.call("dataset.open", p, timeout=timeout)

    def dataset_list(self, *, timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        """``dataset.list``: the open datasets, [{``name``, ``task``, ``size``}] (the result's ``datasets``)."""
        return self.call("dataset.list", timeout=timeout)["datasets"]

    def dataset_close(self, name: str, *, timeout: Any = DEFAULT) -> Dict[str, Any]:
        """``dataset.close``: forgets dataset ``name``."""
        return self.call("dataset.close", {"name": name}, timeout=timeout)

    def dataset_sample(self, name: str, count: Optional[int] = None, augment: Optional[bool] = None, *,
                       timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``dataset.sample``: a few images (and masks) exactly as the model will see them, with augmentation
        when ``augment`` is true. Image and mask objects in the result are decoded: each list of them gets a
        numpy twin under ``<key>_arrays`` (``images_arrays``, ``masks_arrays``), and each item dict that holds an
        image or mask object gets its array under ``image_array`` / ``mask_array``. ``shuffle=True`` (with
        ``epoch``, ``seed``) gives the samples in the seeded order ``train.fit`` uses in that epoch."""
        result = self.call("dataset.sample", _clean(dict(name=name, count=count, augment=augment, **params)),
                           timeout=timeout)
        return _decode_sample(result)

    def dataset_files(self, name: str, *, page_size: int = 1000, timeout: Any = DEFAULT) -> List[Dict[str, Any]]:
        """``dataset.files``, every page: the dataset's (or split's, e.g. ``"lungs.val"``) files in order, each
        {``index``, ``id``, ``path``, ``mask``, ``label``, ``class``}, without decoding or sending any image."""
        files: List[Dict[str, Any]] = []
        offset: Optional[int] = 0
        while offset is not None:
            page = self.call("dataset.files", {"name": name, "offset": offset, "limit": page_size}, timeout=timeout)
            files += page["files"]
            offset = page["next_offset"]
        return files

    # train.*

    def train_configure(self, optimizer: Optional[str] = None, learning_rate: Optional[float] = None,
                        weight_decay: Optional[float] = None, momentum: Optional[float] = None,
                        loss: Optional[Union[str, Dict[str, Any]]] = None, class_weights: Optional[Union[str, Sequence[float]]] = None,
                        batch_size: Optional[int] = None, seed: Optional[int] = None, *,
                        timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``train.configure``: changes the training settings given; the others keep their values.

        Args:
            optimizer: "adam", "adamw" or "sgd" (a different optimizer starts with fresh state).
            learning_rate, weight_decay, momentum: the optimizer's settings (``nesterov=True`` for SGD too);
                the learning rate defaults to 1e-3, Adam's default in PyTorch and Keras.
            loss: "auto" (the default: bce+dice for a 1-channel mask, ce for a K-class mask, ce/bce for a
                softmax/sigmoid class head), "bce", "ce", "dice" or "bce+dice"; one that fits none of the
                model's outputs raises :class:`InvalidParams` listing the choices; or one per head by name with
                weights: ``{"mask": "bce+dice", "class": {"name": "ce", "weight": 0.5}}``.
            class_weights: "balanced" (from the dataset's counts) or a list, one weight per class.
            batch_size, seed: the batch size and the shuffling seed.
            augment: (keyword) apply the dataset's augmentation while training.
            lr_schedule: (keyword) a learning-rate schedule, e.g. ``{"type": "cosine", "decay_steps": 1000,
                "warmup_steps": 100}`` (PROTOCOL.md lists the types and their formulas).

        Returns the whole configuration in force.
        """
        p = _clean(dict(optimizer=optimizer, learning_rate=learning_rate, weight_decay=weight_decay,
                        momentum=momentum, loss=loss,
                        class_weights=class_weights if isinstance(class_weights, (str, type(None)))
                        else [float(w) for w in class_weights],
                        batch_size=batch_size, seed=seed, **params))
        return self.call("train.configure", p, timeout=timeout)

    def train_step(self, dataset: Optional[str] = None, images: Optional[Images] = None,
                   labels: Optional[Sequence[int]] = None, masks: Optional[Iterable[ImageLike]] = None, *,
                   batch: Optional[bool] = None, timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``train.step``: one optimizer step, on the next batch of ``dataset`` or on inline ``images`` with
        ``labels`` (class indices) and/or ``masks`` (HxW arrays: bool, 0/1 or 0/255 uint8, or float
        probabilities; or paths or PNG bytes; an (N, H, W) array is N masks). ``batch=True`` reads an images
        array (N, H, W) as N grey images (see :meth:`predict`). Returns ``step``, ``loss``, ``learning_rate``,
        ``metrics``."""
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
        p.update(_clean(params))
        return self.call("train.step", p, timeout=timeout)

    def train_fit(self, dataset: str, validation: Optional[str] = None, epochs: Optional[int] = None,
                  batch_size: Optional[int] = None, callbacks: Optional[Dict[str, Any]] = None, *,
                  on_progress: Optional[ProgressCallback] = None, timeout: Any = DEFAULT,
                  **params: Any) -> Dict[str, Any]:
        """``train.fit``: trains on ``dataset`` for ``epochs``, validating on ``validation`` after each epoch.

        Args:
            callbacks: ``{"reduce_lr_on_plateau": {...}, "early_stopping": {...}, "checkpoint": {"path": ...}}``
                with Keras' settings (``monitor``, ``patience``, ``factor``, ``min_delta``, ``mode``, ...), or
                a Keras-style list naming each kind: ``[{"name": "EarlyStopping", "patience": 3}, ...]``. A
                ``monitor`` must be a metric the fit reports (the error lists them).
            on_progress: called with each ``progress`` notification's params: ``kind`` "step" (``epoch``,
                ``step``, ``steps_per_epoch``, ``loss``, ``images_per_second``, ``eta_s``) or "epoch" (the
                epoch's metrics and ``learning_rate``).
            shuffle, threshold: (keywords) shuffle each epoch; the threshold of the validation metrics.

        Returns ``history`` (per-epoch metrics), ``stopped_early``, ``best``, ``cancelled``, ``epoch``,
        ``batch_in_epoch``. A cancelled fit raises :class:`Cancelled` whose ``data`` holds that result so far;
        :meth:`fit` turns that into a partial :class:`History`.
        """
        return self.call("train.fit", self._fit_params(dataset, validation, epochs, batch_size, callbacks, params),
                         timeout=timeout, on_progress=on_progress)

    @staticmethod
    def _fit_params(dataset, validation, epochs, batch_size, callbacks, params) -> Dict[str, Any]:
        def absolute(cb: Any) -> Any:
            return dict(cb, path=_abs(cb["path"])) if isinstance(cb, dict) and "path" in cb else cb
        if isinstance(callbacks, dict) and "checkpoint" in callbacks:
            callbacks = dict(callbacks, checkpoint=absolute(callbacks["checkpoint"]))
        elif isinstance(callbacks, (list, tuple)):
            callbacks = [absolute(cb) for cb in callbacks]
        return _clean(dict(dataset=dataset, validation=validation, epochs=epochs, batch_size=batch_size,
                           callbacks=callbacks, **params))

    def fit(self, dataset: str, validation: Optional[str] = None, epochs: int = 1, batch_size: Optional[int] = None,
            callbacks: Optional[Dict[str, Any]] = None, *, progress: Any = "auto",
            callback: Optional[ProgressCallback] = None, timeout: Any = DEFAULT,
            cancel_timeout: float = 120.0, **params: Any) -> History:
        """Trains like :meth:`train_fit`, for people: shows progress and survives Ctrl-C.

        Args:
            progress: "auto"/True: a tqdm bar per epoch when tqdm is installed, else a text line on stderr;
                "text": the text line; False: nothing; or an object with ``update(params)``, ``note(text)`` and
                ``close()`` (such as ``unet_engine.progress.FitProgress(None)`` for a fit of open-ended length).
            callback: called with each ``progress`` notification's params (see :meth:`train_fit`).
            cancel_timeout: after Ctrl-C, how long to wait for the engine to stop at a batch boundary.

        Returns a :class:`History` (a list of per-epoch metrics dicts with ``stopped_early``, ``cancelled``,
        ``best``). Ctrl-C (or a ``cancel`` from another thread) sends ``cancel``, waits for the engine to stop
        after the current batch, and returns the partial history with ``cancelled`` set; the model keeps the
        weights of the last finished step.
        """
        display = progress if hasattr(progress, "update") else FitProgress(epochs, progress)

        def on_progress(p: Dict[str, Any]) -> None:
            display.update(p)
            if callback is not None:
                callback(p)

        pending = self.start("train.fit", self._fit_params(dataset, validation, epochs, batch_size, callbacks,
                                                           params), on_progress=on_progress)
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

    def evaluate(self, dataset: str, threshold: Optional[float] = None, *, timeout: Any = DEFAULT,
                 **params: Any) -> Dict[str, Any]:
        """``evaluate``: the model scored on ``dataset`` (``batch_size``, ``per_image`` as keywords).

        Classification: ``loss``, ``accuracy``, ``precision``, ``recall``, ``specificity``, ``f1``, ``auc``,
        ``pr_auc``, ``confusion_matrix`` (rows: true class), ``roc`` {``fpr``, ``tpr``, ``thresholds``},
        ``report``. Segmentation: ``dice``, ``iou``, ``pixel_accuracy``. ``per_image=True`` adds ``per_image``,
        one dict per image: ``dice``/``iou``/``pixel_accuracy`` for masks; ``id``, ``label``, ``class``,
        ``probabilities``, ``predicted`` for a class head (scikit-learn's ``y_true`` and ``y_score``)."""
        return self.call("evaluate", _clean(dict(dataset=dataset, threshold=threshold, **params)), timeout=timeout)

    # inference

    def predict(self, images: Images, threshold: Optional[float] = None, *, batch: Optional[bool] = None,
                timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``predict``: image-level classes. ``images`` is one image or a list: paths, PNG/JPEG bytes, numpy
        arrays (HxW or CxHxW, uint8 0..255 or float32 as the model's input), or image dicts. A numpy batch is
        (N, C, H, W); a 3-D array (N, H, W) is a batch of grey images only with ``batch=True`` (with
        ``batch=False`` it is one image (C, H, W)): as (3, H, W) could be either, a 3-D array that is not
        plainly one image raises ValueError unless ``batch`` says which. Every image is resized to the model's
        input by default, whatever its form (``resize=False`` runs a unet at the image's own size).
        ``batch_size=N`` sets how many consecutive images of one size share a forward (default 4).
        ``harmonize={...}`` replaces the dataset's or checkpoint's harmonization (``{}``: none).
        ``threshold`` applies only to a model whose class output is one sigmoid unit (class 1 at or above it);
        for more outputs the largest wins and a threshold raises :class:`InvalidParams`.

        Returns ``predictions`` [{``probabilities``, ``label``, ``class_index``}], one per image."""
        p = dict(images=encode_images(images, batch))
        p.update(_clean(dict(threshold=threshold, **params)))
        return self.call("predict", p, timeout=timeout)

    def segment(self, images: Images, threshold: Optional[float] = None, encoding: Optional[str] = None,
                output_dir: Optional[str] = None, *, batch: Optional[bool] = None, timeout: Any = DEFAULT,
                **params: Any) -> Dict[str, Any]:
        """``segment``: one mask per image, at the image's own size.

        Args:
            images: as for :meth:`predict`; ``batch=True`` reads an array (N, H, W) as N grey images,
                ``batch=False`` as one image (C, H, W).
            threshold: the foreground threshold of a one-channel mask (default 0.5).
            encoding: "array" (the client's default: fastest), "png", "probabilities" (float32, sent as base64)
                or "probabilities_json" (the same as nested JSON numbers).
            output_dir: write each mask as a PNG there instead (entries then hold ``path``).
            batch_size (keyword): consecutive images of one size per forward (default 4).
            harmonize (keyword): as for :meth:`predict`; a border crop is undone on the returned mask.
            postprocess (keyword): clean-up of label masks, e.g. ``{"keep_largest": 2, "fill_holes": True,
                "opening": 1}`` (also for :meth:`evaluate`).

        Returns ``masks`` [{``shape``, ``foreground_fraction``, and ``array``/``png``/``probabilities`` or
        ``path``}]; each inline mask also gets ``mask``: a numpy array (H, W) (uint8 0/255, or class indices for
        a multi-class model; float32 probabilities, (H, W) or (K, H, W) for K classes)."""
        if encoding is None and output_dir is None:
            encoding = "array"
        p = dict(images=encode_images(images, batch))
        p.update(_clean(dict(threshold=threshold, encoding=encoding, output_dir=_abs(output_dir), **params)))
        result = self.call("segment", p, timeout=timeout)
        for entry in result.get("masks", []):
            if any(k in entry for k in ("array", "png", "probabilities")):
                entry["mask"] = decode_image(entry)
        return result

    def explain(self, images: Images, method: str = "gradcam", target: Any = None, *, layer: Optional[str] = None,
                threshold: Optional[float] = None, normalize: Optional[str] = None, overlay: bool = False,
                batch: Optional[bool] = None, timeout: Any = DEFAULT, **params: Any) -> Dict[str, Any]:
        """``explain``: where the model looks for a class, one map per image at the image's own size.

        Args:
            images: as for :meth:`predict`.
            method: "gradcam" (default), "gradcam++", "saliency", "smoothgrad" (``samples``, ``noise``, ``seed``
                as keywords), "integrated_gradients" (``steps``) or "class_map".
            target: the class to explain, an index or a class name (default: each image's predicted class).
            layer: Grad-CAM's layer, a node name from :meth:`summary` (default: the deepest encoder feature).
            threshold: also return each map's binary mask of map >= threshold (numpy bool, in ``binary``).
            normalize: "minmax" (default; "raw" for class_map) or "raw".
            overlay: also return ``overlay``, a base64 RGB PNG, decoded into ``overlay_image`` (H, W, 3).

        Returns ``explanations`` [{``method``, ``target``, ``label``, ``score``, ``shape``, ``map``: a float32
        numpy array (H, W), ...}] (the map's values come as the float32 ``probabilities`` encoding)."""
        p = dict(images=encode_images(images, batch))
        p.update(_clean(dict(method=method, target=target, layer=layer, threshold=threshold, normalize=normalize,
                             overlay=overlay or None, encoding=params.pop("encoding", "probabilities"), **params)))
        result = self.call("explain", p, timeout=timeout)
        for entry in result.get("explanations", []):
            if "probabilities" in entry or "array" in entry or "png" in entry:
                entry["map"] = decode_image(entry)
            if "mask" in entry:
                m = entry["mask"]
                mask = decode_png(base64.b64decode(m)) if isinstance(m, str) else decode_array(m)
                entry["binary"] = mask > 0
            if "overlay" in entry:
                entry["overlay_image"] = decode_png(base64.b64decode(entry["overlay"]))
        return result

    def explain_maps(self, images: Images, method: str = "gradcam", target: Any = None, *,
                     batch: Optional[bool] = None, timeout: Any = DEFAULT, **params: Any) -> List[np.ndarray]:
        """The maps of :meth:`explain` alone, as a list of float32 numpy arrays (H, W)."""
        return [e["map"] for e in self.explain(images, method, target, batch=batch, timeout=timeout,
                                               **params)["explanations"]]

    def segment_masks(self, images: Images, threshold: Optional[float] = None, *, batch: Optional[bool] = None,
                      timeout: Any = DEFAULT, **params: Any) -> List[np.ndarray]:
        """The masks of :meth:`segment` alone, as a list of numpy arrays (``batch`` as for :meth:`segment`)."""
        return [m["mask"] for m in self.segment(images, threshold, encoding="array", batch=batch, timeout=timeout,
                                                **params)["masks"]]


_IMAGE_KEYS = ("array", "png", "jpeg", "probabilities")


def _is_image_object(x: Any) -> bool:
    return isinstance(x, dict) and any(k in x for k in _IMAGE_KEYS)


def _decode_sample(result: Any) -> Any:
    """Adds numpy twins to the image and mask objects of a ``dataset.sample`` result (see
    :meth:`Engine.dataset_sample`), leaving the engine's fields as they are."""
    if not isinstance(result, dict):
        return result
    for key, value in list(result.items()):
        if isinstance(value, list) and value and all(_is_image_object(v) for v in value):
            result[f"{key}_arrays"] = [decode_image(v) for v in value]
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    for k, v in list(item.items()):
                        if _is_image_object(v):
                            item[f"{k}_array"] = decode_image(v)
    return result

"""Plots of what the engine returns: training curves, ROC curve, confusion matrix, masks over images.

matplotlib is optional: it is imported when a plot is drawn. Each function draws on ``ax`` when given (else a
new figure) and returns the axes, so plots compose into a notebook's or a report's figure.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from e
    return plt


def _axes(ax: Any, figsize: Tuple[float, float] = (5, 4)) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def plot_history(history: Iterable[Dict[str, Any]], metrics: Optional[Sequence[str]] = None,
                 axes: Any = None) -> Any:
    """Training curves: one panel per metric (``loss``, ``dice``, ``accuracy``, ...), with its ``val_`` twin on
    the same panel. ``history`` is :meth:`Engine.fit`'s History or ``train.fit``'s ``history`` list.
    Returns the list of axes."""
    rows = list(history)
    if metrics is None:
        seen: Dict[str, None] = {}
        for row in rows:
            for k in row:
                if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_"):
                    seen.setdefault(k, None)
        metrics = list(seen) or ["loss"]
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
        axes = list(axes[0])
    epochs = [row.get("epoch", i) + 1 for i, row in enumerate(rows)]
    for ax, name in zip(axes, metrics):
        for key, style in ((name, "o-"), ("val_" + name, "s--")):
            values = [row.get(key) for row in rows]
            points = [(e, v) for e, v in zip(epochs, values) if isinstance(v, (int, float))]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, label=key, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return axes


def plot_roc(evaluation: Dict[str, Any], ax: Any = None, label: Optional[str] = None) -> Any:
    """The ROC curve of an ``evaluate`` result (``roc.fpr``, ``roc.tpr``), with its AUC in the legend."""
    ax = _axes(ax)
    roc = evaluation["roc"]
    fpr = np.array([np.nan if v is None else v for v in roc["fpr"]], dtype=float)
    tpr = np.array([np.nan if v is None else v for v in roc["tpr"]], dtype=float)
    auc = evaluation.get("auc")
    text = label or "model"
    if isinstance(auc, (int, float)):
        text += f" (AUC {auc:.3f})"
    ax.plot(fpr, tpr, "-", label=text)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    return ax


def plot_confusion_matrix(evaluation_or_matrix: Any, class_names: Optional[Sequence[str]] = None, ax: Any = None,
                          normalize: bool = False) -> Any:
    """A confusion matrix (rows: true class, columns: predicted) from an ``evaluate`` result or a matrix, with
    the counts written in the cells. Class names default to the result's ``report`` keys."""
    ax = _axes(ax, (4, 3.6))
    if isinstance(evaluation_or_matrix, dict):
        matrix = np.asarray(evaluation_or_matrix["confusion_matrix"], dtype=float)
        if class_names is None and isinstance(evaluation_or_matrix.get("report"), dict):
            names = [k for k in evaluation_or_matrix["report"] if k not in ("accuracy", "macro avg", "weighted avg")]
            class_names = names if len(names) == len(matrix) else None
    else:
        matrix = np.asarray(evaluation_or_matrix, dtype=float)
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalize else matrix
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(matrix))]
    ax.imshow(shown, cmap="Blues")
    top = shown.max() if shown.size else 1
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(matrix[i, j])}"
            ax.text(j, i, text, ha="center", va="center", color="white" if shown[i, j] > top / 2 else "black")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    return ax


def _display_image(image: Any) -> np.ndarray:
    """An image as matplotlib shows it: (H, W) grey or (H, W, 3), from HxW, CxHxW or HxWxC."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = np.moveaxis(a, 0, 2)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return a


def show_overlay(image: Any, mask: Any = None, true_mask: Any = None, ax: Any = None, alpha: float = 0.35,
                 title: Optional[str] = None) -> Any:
    """An image with a predicted mask filled in red and, optionally, the true mask's outline in green.
    Masks count as foreground above half their maximum (0/255, 0/1 and probabilities alike)."""
    ax = _axes(ax, (4, 4))
    a = _display_image(image)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None)
    if mask is not None:
        m = _display_image(mask).astype(float)
        fg = m > (m.max() / 2 if m.max() > 0 else 0.5)
        overlay = np.zeros(fg.shape + (4,))
        overlay[fg] = (1.0, 0.15, 0.1, alpha)
        ax.imshow(overlay)
    if true_mask is not None:
        t = _display_image(true_mask).astype(float)
        ax.contour(t > (t.max() / 2 if t.max() > 0 else 0.5), levels=[0.5], colors="lime", linewidths=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def mask_sheet(images: List[Any], true_masks: Optional[List[Any]], predicted_masks: List[Any],
               titles: Optional[List[str]] = None) -> Any:
    """A figure with one row per image: the image, the true mask over it (when given), the predicted mask
    over it. Returns the figure (``fig.savefig(path)`` writes the PNG sheet)."""
    plt = _pyplot()
    columns = 3 if true_masks is not None else 2
    fig, axes = plt.subplots(len(images), columns, figsize=(3.0 * columns, 3.0 * len(images)), squeeze=False)
    for i, image in enumerate(images):
        row = axes[i]
        show_overlay(image, ax=row[0], title=(titles[i] if titles else "image"))
        if true_masks is not None:
            show_overlay(image, true_masks[i], ax=row[1], title="true mask")
        show_overlay(image, predicted_masks[i], true_mask=true_masks[i] if true_masks is not None else None,
                     ax=row[-1], title="predicted (true outlined)" if true_masks is not None else "predicted")
    fig.tight_layout()
    return fig


def show_explanations(images: List[Any], maps: List[Any], masks: Optional[List[Any]] = None,
                      titles: Optional[List[str]] = None, alpha: float = 0.5) -> Any:
    """A figure with one row per image: the image, and the explanation map (from :meth:`Engine.explain`) as a jet
    heat overlay on it, with the lung field's outline in green when ``masks`` are given (any mask at the image's
    size; foreground above half its maximum). Returns the figure."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(images), 2, figsize=(6.0, 3.0 * len(images)), squeeze=False)
    for i, image in enumerate(images):
        a = _display_image(image)
        for ax in axes[i]:
            ax.imshow(a, cmap="gray" if a.ndim == 2 else None)
            ax.set_axis_off()
        axes[i][0].set_title(titles[i] if titles else "image")
        m = np.asarray(maps[i], dtype=float)
        if m.shape != a.shape[:2]:
            raise ValueError(f"map {i} is {m.shape}, its image {a.shape[:2]}: explain returns maps at the image's size")
        span = m.max() - m.min()
        axes[i][1].imshow((m - m.min()) / span if span > 0 else np.zeros_like(m), cmap="jet", alpha=alpha,
                          vmin=0, vmax=1)
        if masks is not None and masks[i] is not None:
            t = _display_image(masks[i]).astype(float)
            axes[i][1].contour(t > (t.max() / 2 if t.max() > 0 else 0.5), levels=[0.5], colors="lime", linewidths=1)
        axes[i][1].set_title("explanation" + (" (lungs outlined)" if masks is not None else ""))
    fig.tight_layout()
    return fig

"""``model.summary``'s result as the table Keras' ``model.summary()`` prints, so a Keras user reads it at a glance.

The layout is Keras 2's: ``Model: "NAME"``, a rule, the columns ``Layer (type)``, ``Output Shape`` and
``Param #``, one row per layer, and the totals with thousands separators. Output shapes are the engine's, per
image with ``None`` for the batch axis, channels first: ``(None, 16, 256, 256)`` where Keras would print
``(None, 256, 256, 16)``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

#: Keras' narrowest columns (its default line length of 65, with the space before each column); a column
#: widens to fit a longer entry.
_MINIMUM_WIDTHS = (29, 26, 10)


def format_summary(summary: Dict[str, Any]) -> str:
    """The table for a ``model.summary`` (or ``model.create``) result."""
    rows: List[Tuple[str, str, str]] = [("Layer (type)", "Output Shape", "Param #")]
    for layer in summary["layers"]:
        shape = "(" + ", ".join(["None"] + [str(n) for n in layer["output_shape"]]) + ")"
        rows.append((f"{layer['name']} ({layer['type']})", shape, str(layer["params"])))
    widths = [max(minimum, max(len(row[i]) + 2 for row in rows)) for i, minimum in enumerate(_MINIMUM_WIDTHS)]
    width = sum(widths)

    def line(row: Tuple[str, str, str]) -> str:
        return "".join((" " + cell).ljust(w) for cell, w in zip(row, widths)).rstrip()

    total, trainable = summary["total_params"], summary["trainable_params"]
    out = [f'Model: "{summary["architecture"]}"', "_" * width, line(rows[0]), "=" * width]
    for i, row in enumerate(rows[1:]):
        if i:
            out.append("")
        out.append(line(row))
    out += ["=" * width, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}", "_" * width]
    return "\n".join(out)

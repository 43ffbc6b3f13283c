/// What `unet-engine predict --help`, `segment --help` and `explain --help` say beside their options: the lines
/// written to stdout and the exit codes, so a script's author needs nothing else. `unet-engine --help` shows the
/// synopses.
public enum OneShotUsage {
    /// The one-line synopsis of `command`.
    public static func synopsis(_ command: OneShot.Command) -> String {
        switch command {
        case .segment:
            "unet-engine segment --model M.safetensors [--output-dir D] [--encoding E] [--threshold T] "
                + "[--threads N] FILES..."
        case .explain:
            "unet-engine explain --model M.safetensors --output-dir D [--method X] [--target T] [--layer L] "
                + "[--threshold T] [--threads N] FILES..."
        case .predict: "unet-engine predict --model M.safetensors [--threshold T] [--threads N] FILES..."
        }
    }

    /// One line: what `command` does.
    public static func abstract(_ command: OneShot.Command) -> String {
        switch command {
        case .predict: "Classify image files with a checkpoint: one JSON line per file."
        case .segment: "Segment image files with a checkpoint: one JSON line per file, masks as PNGs or arrays."
        case .explain:
            "Explain a classifier's answer on image files: maps and overlays as PNGs, one JSON line per file."
        }
    }

    /// The lines on stdout, the resizing and the exit codes of `command`.
    public static func discussion(_ command: OneShot.Command) -> String {
        let lines: String
        switch command {
        case .segment:
            lines = """
                Loads the checkpoint M (a unet), segments each JPEG or PNG file and prints one JSON line per file
                on stdout, in file order. Each mask is at its image's own size; the label mask is 255 where the
                probability is above T (one channel) or the most probable class (K channels).
                  {"image": FILE, "shape": [H, W], "foreground_fraction": F, ENCODED}
                  {"image": FILE, "error": {"code": C, "message": "...", "data": {...}}}    (this file failed)
                where ENCODED is, by --encoding:
                  png                 "png": base64 of an 8-bit grey PNG of the label mask (the default)
                  array               "array": {"dtype": "uint8", "shape": [H, W], "data": base64}
                  probabilities       "probabilities": {"dtype": "float32", "shape": [H, W] or [K, H, W],
                                      "data": base64 of little-endian float32}
                  probabilities_json  "probabilities": nested JSON numbers, [H][W] or [K][H][W]
                and with --output-dir D, "path": the PNG written there instead: D/<stem>_mask.png, and
                D/<stem>_1_mask.png, D/<stem>_2_mask.png, ... for later files with a stem already used.
                """
        case .explain:
            lines = """
                Loads the checkpoint M (a model with a class head, or for class_map a pooled logit map or a mask of
                one channel per class), explains each JPEG or PNG file's class and prints one JSON line per file on
                stdout, in file order; the map (grey, min-max scaled; class_map's probabilities as they are) and its
                overlay on the image (a jet heat overlay, or with --threshold the pixels >= T painted green) are
                written to D as <stem>_<method>.png and <stem>_<method>_overlay.png (gradcam++ spelt gradcampp):
                  {"image": FILE, "method": X, "target": K, "label": "NAME", "score": S, "shape": [H, W],
                   "path": MAP, "overlay_path": OVERLAY, ...}
                  {"image": FILE, "error": {"code": C, "message": "...", "data": {...}}}    (this file failed)
                Later files with a stem already used get <stem>_1_<method>.png, ... as segment's masks do.
                """
        case .predict:
            lines = """
                Loads the checkpoint M (a unet-classifier, or a unet with a classification head), runs its
                image-level output on each JPEG or PNG file and prints one JSON line per file on stdout, in file
                order:
                  {"image": FILE, "probabilities": [P, ...], "label": "NAME", "class_index": K}
                  {"image": FILE, "error": {"code": C, "message": "...", "data": {...}}}    (this file failed)
                class_index is the largest output, or for a single sigmoid unit 1 when it is at least T.
                """
        }
        return """
            \(lines)

            Every image is resized to the model's input size first. Logs and argument errors go to stderr.

            exit status:
              0  every file was answered
              1  some files failed (their lines hold "error"); the others were answered
              2  bad arguments, or a model that cannot be loaded or cannot do this; stderr says why
            """
    }
}

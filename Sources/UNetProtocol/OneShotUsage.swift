/// What `unet-engine predict --help` and `unet-engine segment --help` print: the options, the lines written to
/// stdout and the exit codes, so a script's author needs nothing else. `unet-engine --help` shows the synopses.
public enum OneShotUsage {
    /// The one-line synopsis of `command`.
    public static func synopsis(_ command: String) -> String {
        switch command {
        case "segment":
            "unet-engine segment --model M.safetensors [--output-dir D] [--encoding E] [--threshold T] "
                + "[--threads N] FILES..."
        case "explain":
            "unet-engine explain --model M.safetensors --output-dir D [--method X] [--target T] [--layer L] "
                + "[--threshold T] [--threads N] FILES..."
        default: "unet-engine predict --model M.safetensors [--threshold T] [--threads N] FILES..."
        }
    }

    /// The whole help text of `command`.
    public static func text(_ command: String) -> String {
        let lines: String
        let options: String
        if command == "segment" {
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
            options = """
                  --model M           the checkpoint (model.save's, or a PyTorch state_dict in safetensors); required
                  --output-dir D      write each label mask to D as a PNG (created if needed)
                  --encoding E        png, array, probabilities or probabilities_json (default png)
                  --threshold T       foreground threshold in [0, 1] of a one-channel mask (default 0.5)
                """
        } else if command == "explain" {
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
            options = """
                  --model M           the checkpoint (model.save's, or a PyTorch state_dict in safetensors); required
                  --output-dir D      where the maps and overlays go (created if needed); required
                  --method X          gradcam (default), gradcam++, saliency, smoothgrad, integrated_gradients, class_map
                  --target T          the class to explain, an index or a class name (default: the predicted one)
                  --layer L           Grad-CAM's layer, a node name of model.summary (default: the bottleneck)
                  --threshold T       in [0, 1]: also a mask of map >= T (painted green on the overlay)
                """
        } else {
            lines = """
                Loads the checkpoint M (a unet-classifier, or a unet with a classification head), runs its
                image-level output on each JPEG or PNG file and prints one JSON line per file on stdout, in file
                order:
                  {"image": FILE, "probabilities": [P, ...], "label": "NAME", "class_index": K}
                  {"image": FILE, "error": {"code": C, "message": "...", "data": {...}}}    (this file failed)
                class_index is the largest output, or for a single sigmoid unit 1 when it is at least T.
                """
            options = """
                  --model M           the checkpoint (model.save's, or a PyTorch state_dict in safetensors); required
                  --threshold T       in [0, 1], for a model with one sigmoid output only (default 0.5)
                """
        }
        return """
            usage: \(synopsis(command))

            \(lines)

            Every image is resized to the model's input size first. Logs and argument errors go to stderr.

            options:
            \(options)
              --threads N         compute threads (default: the number of cores)
              --help              print this help and exit

            exit status:
              0  every file was answered
              1  some files failed (their lines hold "error"); the others were answered
              2  bad arguments, or a model that cannot be loaded or cannot do this; stderr says why

            """
    }
}

#!/usr/bin/env bash
# Classifies every JPEG in a folder with one unet-engine session, streaming: file names go in as JSON-RPC
# requests (built by jq), answers come out as one line per image:
#
#     path<TAB>label<TAB>p
#
# where p is the probability of that label. Files the engine cannot read are reported on stderr as
# "path: message" and make the exit status 1; the others are still classified.
#
# usage: predict-folder.sh MODEL.safetensors FOLDER [unet-engine options, e.g. --threads 2]
#
# The model must have an image-level output (a unet-classifier, or a unet created with classification_head).
# The engine is $UNET_ENGINE_BIN, else unet-engine on PATH, else this checkout's .build/release or .build/debug.
#
# How it works: each request's id is the image's path, so each answer names its image whatever the order.
# Requests are written as fast as find lists files, so the engine's queue limit is raised to hold them all
# (queued requests are a few hundred bytes each). File names containing newlines are not supported.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
model=$1
folder=$2
shift 2

here=$(cd "$(dirname "$0")" && pwd)
engine=${UNET_ENGINE_BIN:-}
if [ -z "$engine" ]; then
    engine=$(command -v unet-engine || true)
fi
for candidate in "$here/../../.build/release/unet-engine" "$here/../../.build/debug/unet-engine"; do
    if [ -z "$engine" ] && [ -x "$candidate" ]; then engine=$candidate; fi
done
if [ -z "$engine" ]; then
    echo "predict-folder.sh: cannot find unet-engine (build it, put it on PATH or set UNET_ENGINE_BIN)" >&2
    exit 2
fi
[ -f "$model" ] || { echo "predict-folder.sh: no such model: $model" >&2; exit 2; }
[ -d "$folder" ] || { echo "predict-folder.sh: no such folder: $folder" >&2; exit 2; }
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
folder=$(cd "$folder" && pwd)

{
    # Request 0 loads the model; the engine runs requests in arrival order, so it precedes every predict.
    jq -cn --arg path "$model" '{jsonrpc: "2.0", id: 0, method: "model.load", params: {path: $path}}'
    find "$folder" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) | LC_ALL=C sort |
        jq -Rc '{jsonrpc: "2.0", id: ., method: "predict", params: {images: [{path: .}]}}'
} | "$engine" --max-queue 1000000 "$@" | jq -r --unbuffered '
    # Progress notifications have no id; the model.load answer has id 0.
    select(has("id")) |
    if .error then
        "!\t\(.id // "engine"): \(.error.message)"
    elif .id == 0 then
        empty
    else
        .id as $path | .result.predictions[0] as $p |
        # One sigmoid unit is P(class 1); otherwise the probability of the chosen class.
        (if ($p.probabilities | length) == 1
         then (if $p.class_index == 1 then $p.probabilities[0] else 1 - $p.probabilities[0] end)
         else $p.probabilities[$p.class_index] end) as $prob |
        [$path, $p.label, ($prob * 10000 | round / 10000 | tostring)] | @tsv
    end' | awk -F'\t' '
    $1 == "!" { sub(/^!\t/, ""); print > "/dev/stderr"; failed = 1; next }
    { print; fflush() }
    END { exit failed }'

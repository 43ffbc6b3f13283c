#!/usr/bin/env python3
"""Mutational fuzzing of the unet-engine line protocol (issue 13).

Starts one debug engine (in a temporary working folder, with a small --max-model-bytes so no mutated model.create
can take the machine's memory), then for --seconds feeds it lines mutated from the committed transcripts
(Protocol/transcripts/*.requests.ndjson) and a few seed requests that reach the training and dataset methods:
byte flips, truncation, splicing, type swaps, huge numbers, deep nesting, NUL characters, odd paths ("A",
"{epoch}", "\\u0000"), dropped and foreign keys. Long requests are cancelled as they pile up. The engine is never
restarted: the run fails (exit 1) if it dies, if any stdout line is not a JSON-RPC 2.0 message, or if it does not
exit cleanly at the end. Seeded: the same --seed sends the same lines.

    python3 Tests/fuzz/fuzz_protocol.py --seconds 60 --seed 1            # what `make fuzz` runs
    python3 Tests/fuzz/fuzz_protocol.py --seconds 600 --seed 7 --save-lines /tmp/fuzz.ndjson
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SEEDS = [
    {"method": "model.create", "params": {"architecture": "unet", "input_shape": [1, 16, 16], "depth": 1, "filters": 2}},
    {"method": "model.create", "params": {"architecture": "unet-classifier", "input_shape": [1, 8, 8], "classes": 2}},
    {"method": "dataset.open", "params": {"name": "ph", "phantoms": {"count": 6, "size": [16, 16]},
                                          "validation_split": 0.5}},
    {"method": "dataset.open", "params": {"name": "m", "manifest": "A", "input_shape": [1, 16, 16]}},
    {"method": "train.configure", "params": {"batch_size": 1, "optimizer": "sgd", "learning_rate": 0.01}},
    {"method": "train.step", "params": {"dataset": "ph"}},
    {"method": "train.fit", "params": {"dataset": "ph", "validation": "ph.val", "epochs": 1, "batch_size": 2,
                                       "callbacks": {"checkpoint": {"path": "{epoch}"},
                                                     "early_stopping": {"patience": 1}}}},
    {"method": "evaluate", "params": {"dataset": "ph.val"}},
    {"method": "model.save", "params": {"path": "A"}},
    {"method": "model.load", "params": {"path": "A"}},
    {"method": "segment", "params": {"images": [{"array": {"dtype": "uint8", "shape": [2, 2], "data": "AAAAAA=="}}],
                                     "output_dir": "out"}},
    {"method": "predict", "params": {"images": [{"path": "A"}]}},
    {"method": "model.summary"},
    {"method": "engine.status"},
]

HUGE_NUMBERS = [2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -2**63, -2**64, 10**30, 1e308, -1e308, 5e-324,
                -1, 0, 1, 4097, 100001]
ODD_STRINGS = ["A", "{epoch}", "\u0000", "x\u0000.png", "", "/", ".", "..", "out/{epoch}/m", "\u00e9\u00e8",
               "\ud7ff", "a" * 300, "unet", "adam", "ph", "ph.val", "balanced", "png", "val_loss", "auto"]


def json_line(message) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")


def corpus() -> list:
    """The transcripts' request lines (absolute paths made relative, so every file stays in the work folder)."""
    lines = []
    for path in sorted((REPO / "Protocol" / "transcripts").glob("*.requests.ndjson")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                lines.append(line.replace(b'"/nonexistent/', b'"nonexistent/'))
    for i, s in enumerate(SEEDS):
        lines.append(json_line({"jsonrpc": "2.0", "id": 1000 + i, **s}))
    return lines


def random_value(rng: random.Random, depth=0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(HUGE_NUMBERS)
    if kind == 1:
        return rng.choice(ODD_STRINGS)
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return rng.uniform(-10, 10)
    if kind == 4:
        return rng.randrange(-3, 70)
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 6:
        return {rng.choice(["path", "array", "shape", "dtype", "data", "count", "size", "x"]): random_value(rng, depth + 1)
                for _ in range(rng.randrange(3))}
    return "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(8)))


def nested(rng: random.Random, deepest=3000) -> str:
    n = rng.choice([n for n in [10, 60, 63, 64, 65, 100, 3000] if n <= deepest])
    o = rng.choice(["[", '{"a":'])
    c = "]" if o == "[" else "}"
    return o * n + "1" + c * n


def mutate_structure(rng: random.Random, message):
    """Replaces, drops or adds one value somewhere in a decoded request."""
    containers = []

    def walk(v):
        if isinstance(v, dict):
            containers.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            containers.append(v)
            for x in v:
                walk(x)

    walk(message)
    if not containers:
        return random_value(rng)
    c = rng.choice(containers)
    if isinstance(c, dict):
        op = rng.randrange(4)
        if op == 0 and c:
            del c[rng.choice(list(c))]
        elif op == 1:
            c[rng.choice(["path", "images", "epochs", "batch_size", "seed", "shape", "foo", "id", "params"])] = \
                random_value(rng)
        elif c:
            c[rng.choice(list(c))] = random_value(rng) if op == 2 else json.loads(nested(rng, 100)) if rng.random() < 0.2 \
                else rng.choice(HUGE_NUMBERS + ODD_STRINGS)
    else:
        if c and rng.random() < 0.5:
            c[rng.randrange(len(c))] = random_value(rng)
        else:
            c.append(random_value(rng))
    return message


def mutate(rng: random.Random, lines: list) -> bytes:
    base = rng.choice(lines)
    if rng.random() < 0.15:  # a valid request now and then, so the session reaches deeper states (a model, data)
        return base
    op = rng.randrange(10)
    if op <= 3:  # structured mutations of valid JSON
        try:
            message = json.loads(base)
        except ValueError:
            message = {"jsonrpc": "2.0", "id": 1}
        for _ in range(rng.randrange(1, 4)):
            message = mutate_structure(rng, message)
        if isinstance(message, dict) and rng.random() < 0.05:
            message["params"] = json.loads(nested(rng, 100)) if rng.random() < 0.5 else random_value(rng)
        try:
            text = json_line(message)
        except (ValueError, RecursionError):
            text = base
        # Huge integers beyond what Python would print as an int literal the engine sees as text.
        if rng.random() < 0.1:
            text = text.replace(b'"id": ', b'"id": 99999999999999999999999', 1)
        return text
    data = bytearray(base)
    if op == 4:  # byte flips
        for _ in range(rng.randrange(1, 6)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif op == 5:  # truncation
        data = data[:rng.randrange(len(data) + 1)]
    elif op == 6:  # splice two lines
        other = rng.choice(lines)
        data = data[:rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]
    elif op == 7:  # random bytes inserted (NUL, quotes, brackets, invalid UTF-8)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data) + 1):0] = bytes([rng.choice([0, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0xFF,
                                                                       0xC3, 0x80, 0x30, 0x2D, 0x2E, 0x65])])
    elif op == 8:  # deep nesting or a lone value
        data = bytearray(rng.choice([nested(rng), "[]", "{}", "null", "1", '"x"', "99999999999999999999999", ""]).encode())
    else:  # a number replaced by a huge one
        digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
        if digits:
            i = rng.choice(digits)
            data[i:i + 1] = str(rng.choice(HUGE_NUMBERS)).encode()
    return bytes(data)


def check_line(raw: bytes) -> str:
    """Why a stdout line is not a JSON-RPC 2.0 message, or ""."""
    try:
        m = json.loads(raw)
    except ValueError as e:
        return f"not JSON ({e})"
    if not isinstance(m, dict) or m.get("jsonrpc") != "2.0":
        return "not a JSON-RPC 2.0 object"
    if "method" in m:
        return "" if isinstance(m.get("params", {}), dict) else "notification params are not an object"
    if "id" not in m or (("result" in m) == ("error" in m)):
        return "a response needs an id and exactly one of result, error"
    if "error" in m and not (isinstance(m["error"], dict) and isinstance(m["error"].get("code"), int)
                             and isinstance(m["error"].get("message"), str)):
        return "malformed error object"
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100, help="at most this many lines a second")
    ap.add_argument("--engine", default=os.environ.get("UNET_ENGINE_BIN", str(REPO / ".build" / "debug" / "unet-engine")))
    ap.add_argument("--max-model-bytes", type=int, default=200_000_000,
                    help="the engine's limit (0: the engine's default, for engines older than the option)")
    ap.add_argument("--save-lines", help="also write every line sent to this file (to replay a failure)")
    args = ap.parse_args()
    if not Path(args.engine).is_file():
        print(f"fuzz: no engine at {args.engine}: build it (swift build) or pass --engine", file=sys.stderr)
        return 2

    rng = random.Random(args.seed)
    lines = corpus()
    workdir = tempfile.mkdtemp(prefix="unet-fuzz-")
    limit = ["--max-model-bytes", str(args.max_model_bytes)] if args.max_model_bytes else []
    proc = subprocess.Popen([args.engine, "--threads", "1", *limit],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir)
    problems: list = []
    answered: set = set()
    counts = {"lines": 0, "sent": 0}
    outcomes: dict = {}  # "result", "notification" or the error code -> how many
    lock = threading.Lock()

    def read_stdout():
        for raw in proc.stdout:
            counts["lines"] += 1
            why = check_line(raw)
            if why:
                problems.append(f"stdout line {counts['lines']}: {why}: {raw[:300]!r}")
                continue
            m = json.loads(raw)
            outcome = "notification" if "method" in m else "result" if "result" in m else str(m["error"]["code"])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if "method" not in m:
                with lock:
                    answered.add(json.dumps(m.get("id")))

    stderr_tail = bytearray()

    def read_stderr():
        for chunk in iter(lambda: proc.stderr.read(4096), b""):
            stderr_tail.extend(chunk)
            del stderr_tail[:-20000]

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()
    saved = open(args.save_lines, "wb") if args.save_lines else None
    pending: dict = {}  # our own request ids -> when sent, to cancel the ones that run long
    started = time.monotonic()
    next_cancel = started + 1
    serial = 0
    try:
        while time.monotonic() - started < args.seconds:
            if proc.poll() is not None:
                break
            line = mutate(rng, lines).replace(b"\n", b" ").replace(b"\r", b" ")
            line = line.replace(b"shutdown", b"shutdowx")  # the one request that ends the engine legitimately
            # Half the lines get a fresh id (when they are objects); every id sent is remembered so that long
            # requests can be cancelled and the run ends in bounded time.
            try:
                m = json.loads(line)
            except (ValueError, RecursionError):
                m = None
            if isinstance(m, dict):
                if rng.random() < 0.5:
                    serial += 1
                    m["id"] = f"fz{serial}"
                    line = json_line(m)
                if "id" in m:
                    pending[json.dumps(m["id"])] = time.monotonic()
            if saved:
                saved.write(line + b"\n")
            try:
                proc.stdin.write(line + b"\n")
                proc.stdin.flush()
            except BrokenPipeError:
                break
            counts["sent"] += 1
            now = time.monotonic()
            if now >= next_cancel:
                next_cancel = now + 1
                with lock:
                    for key in [k for k in pending if k in answered]:
                        del pending[key]
                for key, sent in list(pending.items()):
                    if now - sent > 1:
                        proc.stdin.write(json_line({"jsonrpc": "2.0", "method": "cancel",
                                                    "params": {"id": json.loads(key)}}) + b"\n")
                        proc.stdin.flush()
                        del pending[key]
            time.sleep(1 / args.rate)
        died = proc.poll()
        if died is not None:
            problems.append(f"the engine died during the run (exit status {died})")
        else:
            # Cancel whatever still runs, then end input: the engine must exit by itself, with status 0.
            for key in pending:
                proc.stdin.write(json_line({"jsonrpc": "2.0", "method": "cancel", "params": {"id": json.loads(key)}})
                                 + b"\n")
            proc.stdin.close()
            try:
                status = proc.wait(timeout=120)
                if status != 0:
                    problems.append(f"the engine exited with status {status} at the end")
            except subprocess.TimeoutExpired:
                problems.append("the engine did not exit within 120 s after end of input")
                proc.kill()
                proc.wait()
    except BrokenPipeError:
        problems.append(f"the engine closed its input (exit status {proc.wait()})")
    finally:
        if saved:
            saved.close()
    for t in readers:
        t.join(10)
    print(f"fuzz: seed {args.seed}, {time.monotonic() - started:.0f} s, {counts['sent']} lines sent, "
          f"{counts['lines']} lines received, work folder {workdir}")
    print("fuzz: received " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])))
    if problems:
        for p in problems[:20]:
            print(f"fuzz: FAIL: {p}")
        print("fuzz: engine stderr (tail):\n" + stderr_tail[-6000:].decode(errors="replace"))
        return 1
    print("fuzz: ok (the engine survived and every stdout line was a JSON-RPC message)")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

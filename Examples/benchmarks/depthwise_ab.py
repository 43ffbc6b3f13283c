#!/usr/bin/env python3
"""A/B of two builds of Examples/benchmarks/depthwise_planes.c, alternated ROUNDS times, best of each side.

    S=Sources/CKernels; clang -O2 -I$S/include -o /tmp/dwplanes_new Examples/benchmarks/depthwise_planes.c \\
        $S/KernelsAVX2.c $S/KernelsAVX512.c        # and /tmp/dwplanes_old from the other tree
    python3 Examples/benchmarks/depthwise_ab.py /tmp/dwplanes_old /tmp/dwplanes_new 5 512 8 20

The arguments after ROUNDS go to both binaries (ISA, PLANES, REPEATS). Alternating the builds round by round keeps a
change of the shared machine's load from landing on one side only; each line gives ns a plane, old -> new (speed-up).
"""
import re
import subprocess
import sys


def run(binary, args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
    cases = {}
    for line in out.splitlines():
        m = re.match(r"\S+\s+(\dx\d s\d \S+)\s+(.*)", line)
        if m:
            cases[m.group(1)] = {k: int(v) for k, v in re.findall(r"(fwd|wgrad|igrad)\s+(\d+) ns", m.group(2))}
    return cases


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    old, new, rounds, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    sides = {old: [], new: []}
    for _ in range(rounds):
        for binary in (old, new):
            sides[binary].append(run(binary, args))
    for case in sides[old][0]:
        line = case.ljust(16)
        for kind in ("fwd", "wgrad", "igrad"):
            a = min(r[case][kind] for r in sides[old])
            b = min(r[case][kind] for r in sides[new])
            line += f" {kind} {a:6d} -> {b:6d} ({a / b:4.2f}x)"
        print(line)


if __name__ == "__main__":
    main()

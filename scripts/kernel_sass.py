#!/usr/bin/env python3
"""Compile kernels/sha256d.cu to a cubin, disassemble it and count the SASS instructions one
nonce costs on the common (early-reject) path, by opcode and by pipe, and the rate that bounds:
the slowest of the integer ALU pipe, the FMA pipe (IMAD) and instruction issue. Prints JSON.

The hot path is read off the loop: from the target of the loop's back-edge to the first
predicated forward branch (the early reject), plus the loop tail from that branch's target back
to the back-edge. Needs nvcc and nvdisasm (pip install nvidia-cuda-nvdisasm) or cuobjdump."""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Integer-ALU pipe opcodes on Ampere/Hopper; IMAD and friends issue to the FMA pipe instead.
ALU_PIPE = {"SHF", "LOP3", "LOP", "IADD3", "ISETP", "PRMT", "SEL", "LEA", "SHL", "SHR", "IABS",
            "IMNMX", "VIADD", "FLO", "BMSK", "PLOP3", "MOV"}
FMA_PIPE = {"IMAD", "IMUL"}
LINE = re.compile(r"/\*([0-9a-f]+)\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)\s*([^;]*);")
LABEL = re.compile(r"^(\.L_x_\d+):")


def find_tool(name: str) -> str | None:
    path = shutil.which(name)
    if path:
        return path
    for base in {sysconfig.get_paths()["purelib"], *sys.path}:
        hits = glob.glob(os.path.join(base, "nvidia", "*", "bin", name)) + glob.glob(
            os.path.join(base, "nvidia", "cuda_nvdisasm", "bin", name))
        if hits:
            return hits[0]
    return None


def disassemble(arch: str, source: Path, defines: list[str] | None = None) -> str:
    nvcc = find_tool("nvcc")
    if nvcc is None:
        sys.exit("kernel_sass: nvcc not found")
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        flags = [f"-D{d}" for d in defines or []]
        subprocess.run([nvcc, f"-arch={arch}", *flags, "-cubin", "-o", str(cubin), str(source)], check=True)
        nvdisasm = find_tool("nvdisasm")
        if nvdisasm:
            return subprocess.run([nvdisasm, "-c", str(cubin)], check=True, capture_output=True, text=True).stdout
        cuobjdump = find_tool("cuobjdump")
        if cuobjdump:
            return subprocess.run([cuobjdump, "-sass", str(cubin)], check=True, capture_output=True, text=True).stdout
    sys.exit("kernel_sass: neither nvdisasm nor cuobjdump found (pip install nvidia-cuda-nvdisasm)")


def parse(sass: str) -> tuple[list[tuple[int, str, str, str]], dict[str, int]]:
    insts: list[tuple[int, str, str, str]] = []
    labels: dict[str, int] = {}
    pending: list[str] = []
    for line in sass.splitlines():
        m = LABEL.match(line.strip())
        if m:
            pending.append(m.group(1))
            continue
        m = LINE.search(line)
        if m:
            addr = int(m.group(1), 16)
            for lab in pending:
                labels[lab] = addr
            pending = []
            insts.append((addr, (m.group(2) or "").strip(), m.group(3), m.group(4)))
    return insts, labels


def hot_path(insts: list[tuple[int, str, str, str]], labels: dict[str, int]) -> list[str]:
    def target(ops: str) -> int | None:
        m = re.search(r"\(?(\.L_x_\d+)\)?", ops)
        return labels.get(m.group(1)) if m else None

    backs = [(a, target(o)) for a, _, op, o in insts if op == "BRA" and (target(o) or 1 << 62) < a]
    if not backs:
        raise SystemExit("kernel_sass: no loop found")
    back_addr, head = max(backs, key=lambda b: b[0] - b[1])
    body = [i for i in insts if head <= i[0] <= back_addr]
    reject = next(i for i in body if i[2] == "BRA" and i[1] and (target(i[3]) or 0) > i[0])
    skip_to = target(reject[3])
    path = [i for i in body if i[0] <= reject[0] or i[0] >= skip_to]
    return [op.split(".")[0] for _, _, op, _ in path if op not in ("BSSY", "BSYNC", "NOP")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--source", type=Path, default=ROOT / "kernels" / "sha256d.cu")
    ap.add_argument("--sms", type=int, default=132, help="H100 SXM: 132")
    ap.add_argument("--alu-per-clock", type=int, default=64, help="integer ALU lanes per SM per clock")
    ap.add_argument("--fma-per-clock", type=int, default=64,
                    help="IMAD (FMA-heavy pipe) results per SM per clock (64 on sm_80 and sm_90)")
    ap.add_argument("--issue-per-clock", type=int, default=128,
                    help="instructions issued per SM per clock (4 schedulers x 32 threads)")
    ap.add_argument("--clock-ghz", type=float, default=1.98, help="H100 SXM max boost")
    ap.add_argument("--target", type=int, default=1950, help="ALU-pipe instructions per nonce")
    ap.add_argument("--define", action="append", default=[], metavar="NAME[=VALUE]",
                    help="a kernel variant, e.g. BH_PLAIN_ADDS (repeatable)")
    args = ap.parse_args()
    ops = hot_path(*parse(disassemble(args.arch, args.source, args.define)))
    counts = Counter(ops)
    alu = sum(n for op, n in counts.items() if op in ALU_PIPE)
    fma = sum(n for op, n in counts.items() if op in FMA_PIPE)
    # clocks one SM spends per nonce on each resource; the largest is the limit
    clocks = {"alu_pipe": alu / args.alu_per_clock, "fma_pipe": fma / args.fma_per_clock,
              "issue": len(ops) / args.issue_per_clock}
    limit = max(clocks, key=lambda k: clocks[k])
    per_s = args.sms * args.clock_ghz * 1e9
    bound = per_s / clocks[limit]
    print(json.dumps({
        "benchmark": "kernel_sass",
        "arch": args.arch,
        "defines": args.define,
        "instructions_per_nonce": len(ops),
        "by_opcode": dict(counts.most_common()),
        "alu_pipe_per_nonce": alu,
        "fma_pipe_per_nonce": fma,
        "alu_pipe_share": alu / len(ops),
        "bound_ghps_by_resource": {k: per_s / v / 1e9 for k, v in clocks.items()},
        "bound_ghps": bound / 1e9,
        "bound_by": limit,
        "sm_clocks_per_nonce": clocks[limit],   # bound at any clock: SMs x clock / this
        "alu_bound_ghps_h100_sxm": per_s / clocks["alu_pipe"] / 1e9,
        "bound_assumes": f"{args.sms} SMs x {args.clock_ghz} GHz; per SM and clock {args.alu_per_clock} ALU, "
                         f"{args.fma_per_clock} IMAD, {args.issue_per_clock} issued",
        "target_alu_per_nonce": args.target,
        "meets_target": alu <= args.target,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

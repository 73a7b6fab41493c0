#!/usr/bin/env python3
"""Compile kernels/sha256d.cu to a cubin, disassemble it and count the SASS instructions one
nonce costs on the common (early-reject) path, by opcode and by pipe, and the rate that bounds:
the slowest of the integer ALU pipe, the FMA pipe (IMAD) and instruction issue. Prints JSON.

The hot path is read off the loop: one pass from the target of the loop's back-edge to the
back-edge, taking every early reject (a predicated forward branch within the loop), divided by
the nonces a pass hashes (BH_NONCES). ptxas' registers and spill bytes come with each count.
--matrix counts every build that bench_kernel_gpu's default configurations use, in one JSON.
Needs nvcc and nvdisasm (pip install nvidia-cuda-nvdisasm) or cuobjdump."""

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
from typing import Any

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


def disassemble(arch: str, source: Path, defines: list[str] | None = None) -> tuple[str, str]:
    """(SASS text, ptxas' resource report) of the kernel built with these macros."""
    nvcc = find_tool("nvcc")
    if nvcc is None:
        sys.exit("kernel_sass: nvcc not found")
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        flags = [f"-D{d}" for d in defines or []]
        built = subprocess.run([nvcc, f"-arch={arch}", *flags, "-Xptxas", "-v", "-cubin", "-o", str(cubin),
                                str(source)], check=True, capture_output=True, text=True)
        nvdisasm = find_tool("nvdisasm")
        if nvdisasm:
            return subprocess.run([nvdisasm, "-c", str(cubin)], check=True, capture_output=True,
                                  text=True).stdout, built.stderr
        cuobjdump = find_tool("cuobjdump")
        if cuobjdump:
            return subprocess.run([cuobjdump, "-sass", str(cubin)], check=True, capture_output=True,
                                  text=True).stdout, built.stderr
    sys.exit("kernel_sass: neither nvdisasm nor cuobjdump found (pip install nvidia-cuda-nvdisasm)")


def resources(report: str) -> dict[str, int | None]:
    """Registers and spill bytes per thread from ptxas -v (None where it says nothing)."""
    def grab(pattern: str) -> int | None:
        m = re.search(pattern, report)
        return int(m.group(1)) if m else None
    return {"registers": grab(r"Used (\d+) registers"), "spill_store_bytes": grab(r"(\d+) bytes spill stores"),
            "spill_load_bytes": grab(r"(\d+) bytes spill loads")}


def nonces_per_pass(defines: list[str]) -> int:
    """Nonces one pass round the loop hashes (BH_NONCES, 1 by default)."""
    for d in defines:
        if d.startswith("BH_NONCES="):
            return int(d.split("=", 1)[1])
    return 1


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
    """The opcodes of one pass round the scan loop when every nonce is rejected early: walk from
    the loop's head to its back-edge, taking each predicated forward branch that stays inside the
    loop (an early reject skips the slow path it guards) and following plain jumps; a predicated
    branch out of the loop (the bounds exit) is not taken."""
    def target(ops: str) -> int | None:
        m = re.search(r"\(?(\.L_x_\d+)\)?", ops)
        return labels.get(m.group(1)) if m else None

    backs = [(a, t) for a, _, op, o in insts if op == "BRA" and (t := target(o)) is not None and t < a]
    if not backs:
        raise SystemExit("kernel_sass: no loop found")
    back_addr, head = max(backs, key=lambda b: b[0] - b[1])
    at = {a: n for n, (a, *_) in enumerate(insts)}
    path: list[str] = []
    n = at[head]
    while insts[n][0] != back_addr:
        addr, pred, op, ops = insts[n]
        if op not in ("BSSY", "BSYNC", "NOP"):
            path.append(op.split(".")[0])
        dest = target(ops) if op == "BRA" else None
        if dest is not None and addr < dest <= back_addr and (pred or dest in at):
            n = at[dest]
            continue
        n += 1
    return [*path, "BRA"]                   # the back-edge itself


def count(arch: str, source: Path, defines: list[str], rates: argparse.Namespace) -> dict[str, Any]:
    """SASS per nonce of one build of the kernel, by opcode and pipe, and the rate each bounds."""
    sass, report = disassemble(arch, source, defines)
    per_pass = nonces_per_pass(defines)
    ops = hot_path(*parse(sass))
    counts = Counter(ops)
    alu = sum(n for op, n in counts.items() if op in ALU_PIPE) / per_pass
    fma = sum(n for op, n in counts.items() if op in FMA_PIPE) / per_pass
    total = len(ops) / per_pass
    # clocks one SM spends per nonce on each resource; the largest is the limit
    clocks = {"alu_pipe": alu / rates.alu_per_clock, "fma_pipe": fma / rates.fma_per_clock,
              "issue": total / rates.issue_per_clock}
    limit = max(clocks, key=lambda k: clocks[k])
    per_s = rates.sms * rates.clock_ghz * 1e9
    return {
        "benchmark": "kernel_sass",
        "arch": arch,
        "defines": defines,
        "nonces_per_pass": per_pass,
        "instructions_per_nonce": total,
        "by_opcode": dict(counts.most_common()),          # per pass round the loop
        "alu_pipe_per_nonce": alu,
        "fma_pipe_per_nonce": fma,
        "alu_pipe_share": alu / total,
        **resources(report),
        "bound_ghps_by_resource": {k: per_s / v / 1e9 for k, v in clocks.items()},
        "bound_ghps": per_s / clocks[limit] / 1e9,
        "bound_by": limit,
        "sm_clocks_per_nonce": clocks[limit],   # bound at any clock: SMs x clock / this
        "alu_bound_ghps_h100_sxm": per_s / clocks["alu_pipe"] / 1e9,
        "bound_assumes": f"{rates.sms} SMs x {rates.clock_ghz} GHz; per SM and clock {rates.alu_per_clock} ALU, "
                         f"{rates.fma_per_clock} IMAD, {rates.issue_per_clock} issued",
        "target_alu_per_nonce": rates.target,
        "meets_target": alu <= rates.target,
    }


def matrix(arch: str, source: Path, rates: argparse.Namespace) -> dict[str, Any]:
    """Every build bench_kernel_gpu's default configurations use: (variant, threads) -> count."""
    from benchhash.sha256d.cuda import variant_defines
    bench = _bench_kernel_gpu()
    builds = sorted({(v, t) for v, t, _ in bench.parse_configs(bench.DEFAULT_CONFIGS)})
    rows = []
    for variant, threads in builds:
        defines = [*variant_defines(variant), *([f"BH_THREADS={threads}"] if threads != 256 else [])]
        row = count(arch, source, defines, rates)
        rows.append({"variant": variant, "threads": threads,
                     **{k: v for k, v in row.items() if k not in ("benchmark", "arch")}})
        print(f"{variant} x {threads}: {row['alu_pipe_per_nonce']:.0f} ALU, {row['fma_pipe_per_nonce']:.0f} IMAD, "
              f"{row['registers']} registers, spill {row['spill_load_bytes']} B", file=sys.stderr)
    return {"benchmark": "kernel_sass_matrix", "arch": arch, "rows": rows}


def _bench_kernel_gpu() -> Any:
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_kernel_gpu", ROOT / "scripts" / "bench_kernel_gpu.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    ap.add_argument("--matrix", action="store_true",
                    help="count every build bench_kernel_gpu's default configurations use, as one JSON")
    args = ap.parse_args()
    data = matrix(args.arch, args.source, args) if args.matrix else count(args.arch, args.source, args.define, args)
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

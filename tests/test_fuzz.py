"""Zero tracebacks: every subcommand fed bad values (seeded, bounded) answers with one line and
exit 2, or a verdict (exit 1), or success; never a traceback, never an 'internal error'."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchhash.sha256d.header import GENESIS
from conftest import run_main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"
GOLDEN_NULL = ROOT / "tests" / "data" / "golden" / "cpu-null.json"
SCHEMA = ROOT / "results" / "schema" / "result-v3.schema.json"
FLEET_V1 = ROOT / "tests" / "data" / "fleet-v1" / "fleet.json"
CASES = 240
SEED = 20261123

NUMBERS = ["0", "-1", "1", "3", "1e30", "nan", "inf", "-inf", "1e-9", "9" * 5000, "abc", "", " ",
           "0x10", "1_000", "\udcff", "2.5", "-0"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz")
    made = {
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "bigint.json": '{"schema_version": ' + "9" * 5000 + "}",
        "nan.json": json.dumps({**json.loads(GOLDEN.read_text()), "run_id": None}).replace(
            '"work": ', '"work": NaN, "x": ', 1),
        "surrogate.json": GOLDEN.read_text().replace('"notes": ', '"notes": "\\ud800", "n2": ', 1),
        "binary.json": None,
        "empty.json": "",
        "list.json": "[]",
        "truncated.json": GOLDEN.read_text()[:5000],
        "newer.json": json.dumps({**json.loads(GOLDEN_NULL.read_text()), "schema_version": 99}),
        "bench.json": json.dumps({"benchmark": "sha256d"}),
        "market.json": json.dumps({"inputs": {"btc_usd": {"value": "lots"}}}),
        "trace.json": json.dumps({"samples": [{"power_w": -5}]}),
        "key": "not a key",
        "fleet-newer.json": json.dumps({"fleet_schema_version": 99}),
        "fleet-str.json": json.dumps({"fleet_schema_version": "2", "ranks": []}),
        "fleet-bad.json": json.dumps({**json.loads(FLEET_V1.read_text()), "fleet_schema_version": 2}),
        "fleet-v1.json": FLEET_V1.read_text(),
    }
    for name, text in made.items():
        if text is None:
            (d / name).write_bytes(b"\xff\xfe\x00garbage")
        else:
            (d / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    (d / "a-file").write_text("x")
    (d / "folder").mkdir()
    return {p.name: p for p in d.iterdir()}


def _inputs(files: dict[str, Path]) -> list[str]:
    return [str(p) for p in files.values()] + [str(GOLDEN), str(GOLDEN_NULL), str(SCHEMA), "/nonexistent.json",
                                               "/proc/self/status", "\udcff.json"]


def _outs(files: dict[str, Path]) -> list[str]:
    base = files["folder"]
    return [str(base), str(files["a-file"] / "child.json"), "/proc/version", "/proc/x.json",
            "/nonexistent/dir/x.json", str(base / "ok.json"), "", "\udcff/x.json"]


def _case(rng: random.Random, files: dict[str, Path]) -> list[str]:
    def num() -> str:
        return rng.choice(NUMBERS)

    def inp() -> str:
        return rng.choice(_inputs(files))

    def out() -> str:
        return rng.choice(_outs(files))

    def one_of(*options: list[str]) -> list[str]:
        return rng.choice(options)

    header = rng.choice([GENESIS.hex(), "zz", GENESIS.hex()[:-2], "\udcff"])
    market_key = rng.choice(["btc_usd", "block_height", "pool_fee", "horizon_years", "nope"])
    builders: dict[str, Callable[[], list[str]]] = {
        "scan": lambda: [
            "scan", "--header", header, "--start", rng.choice(["2083236890", num()]),
            "--count", rng.choice(["8", "1_000", num()]),
            "--device", rng.choice(["reference", "cpu", "tpu", "cuda:x", "cuda"]),
            *one_of([], ["--share-bits", num()], ["--threads", num()], ["--bits", num()],
                    ["--target", rng.choice(["ff" * 40, num()])], ["--json"])],
        "run": lambda: [
            "run", "--device", rng.choice(["cpu", "cpu", "tpu"]), "--meter", "null",
            "--workloads", rng.choice(["sha256d", "sha256d", "sha257", ",", "gemm"]),
            "--duration", rng.choice(["0.05", num()]), "--trials", rng.choice(["1", num()]),
            "--warmup", rng.choice(["0", num()]), "--out", rng.choice([out(), out(), str(files["folder"])]),
            *one_of([], ["--idle", num()], ["--threads", num()], ["--notes", rng.choice(["\udcff", "x" * 5000])],
                    ["--gemm-size", num()], ["--llm-batches", num()], ["--llm-preset", num()],
                    ["--meter", "replay:" + inp()], ["--sign", inp()], ["--gemm-dtypes", num()],
                    ["--fleet-timeout", num()])],
        "schema": lambda: ["schema", "--out", out()],
        "econ": lambda: [
            "econ", *one_of([], [inp()]),
            *one_of(["--set", f"{market_key}={num()}"], ["--seed", num()], ["--draws", rng.choice(["10", num()])],
                    ["--ai-mw", num()], ["--mining-mw", num()], ["--asic", num()], ["--claim", "--draws", "20"],
                    ["--market", rng.choice([inp(), "live:http://127.0.0.1:9", "nope"])],
                    ["--prices", inp()], ["--hourly", "--min-on-hours", num()], ["--hourly", "--ramp-cost", num()],
                    ["--hourly", "--4cp", rng.choice([num(), inp()]), "--4cp-charge", num()],
                    ["--hourly", "--contract", rng.choice(["ppa", num()])], ["--plot", out()]),
            *one_of([], ["--json"])],
        "report": lambda: ["report", inp(), *one_of([], [inp()]), "--format",
                           rng.choice(["table", "md", "csv", "html", num()]), *one_of([], ["--out", out()])],
        "compare": lambda: ["compare", inp(), inp(), *one_of([], ["--threshold", num()], ["--json"])],
        "merge": lambda: ["merge", inp(), *one_of([], [inp()]), "-o", out()],
        "verify": lambda: ["verify", inp(), *one_of([], [inp()], ["--trusted-keys", inp()], ["--json"])],
        "sign": lambda: ["sign", inp(), "--key", inp()],
        "info": lambda: ["info", *one_of([], ["--json"])],
    }
    name = rng.choices(list(builders), weights=[3, 2, 1, 3, 2, 2, 2, 2, 1, 1])[0]
    return builders[name]()


def _check(args: list[str], code: int, err: str) -> None:
    where = f"benchhash {' '.join(a[:60] for a in args)!r}"
    assert "Traceback" not in err and "internal error" not in err, f"{where}:\n{err}"
    assert code in (0, 1, 2), f"{where}: exit {code}\n{err}"
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("benchhash: error:")]
        assert len(errors) == 1, f"{where}: wants one error line:\n{err}"


def test_seeded_fuzz_of_every_subcommand(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)                 # a run without --out writes under ./results
    rng = random.Random(SEED)
    seen: dict[int, int] = {}
    for _ in range(CASES):
        args = _case(rng, files)
        code, _, err = run_main(capsys, *args)
        _check(args, code, err)
        seen[code] = seen.get(code, 0) + 1
    assert seen.get(2, 0) > CASES / 4 and seen.get(0, 0) > 10        # both kinds were reached


@pytest.mark.parametrize("args", [
    ["econ", "--seed", "-1"], ["econ", "--ai-mw", "inf"], ["econ", "--set", "block_height=1e30"],
    ["run", "--duration", "1e-9"], ["run", "--threads", "100000"], ["schema", "--out", "/proc/version"],
    ["report", str(GOLDEN), "--out", "/proc/x.html"], ["merge", str(GOLDEN), "-o", "/proc/f.json"],
])
def test_the_listed_cases(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, *args)
    _check(args, code, err)
    assert code == 2


@pytest.mark.parametrize("name", ["deep.json", "bigint.json", "nan.json", "surrogate.json", "binary.json",
                                  "fleet-newer.json", "fleet-str.json", "fleet-bad.json"])
def test_hostile_result_files(name: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    f = str(files[name])
    for args in (["verify", f], ["report", f], ["merge", f, "-o", "x.json"], ["compare", f, str(GOLDEN)], ["econ", f]):
        code, _, err = run_main(capsys, *args)
        _check(args, code, err)
        assert code in (1, 2)


def test_non_utf8_arguments_in_a_real_process() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchhash", "scan", "--header", b"\xff\xfe", "--count", "5"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert proc.stderr.count(b"benchhash: error:") == 1

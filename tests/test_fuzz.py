"""Zero tracebacks: every subcommand fed bad values (seeded, bounded) answers with one line and
exit 2, or a verdict (exit 1, compare's 3), or success; never a traceback, never an 'internal
error', never a hang. The inputs that crashed or hung before (issue 28) are each here, and
hypothesis mutates a real result file for verify, report, compare, merge and econ."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchhash.results import io
from benchhash.sha256d.header import GENESIS
from conftest import run_main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"
GOLDEN_NULL = ROOT / "tests" / "data" / "golden" / "cpu-null.json"
SCHEMA = ROOT / "results" / "schema" / "result-v5.schema.json"
FLEET_V1 = ROOT / "tests" / "data" / "fleet-v1" / "fleet.json"
CASES = 240
SEED = 20261123

NUMBERS = ["0", "-1", "1", "3", "1e30", "nan", "inf", "-inf", "1e-9", "9" * 5000, "abc", "", " ",
           "0x10", "1_000", "\udcff", "2.5", "-0"]


def _resealed(edit: Callable[[dict[str, Any]], None], path: Path = GOLDEN_NULL) -> str:
    d = json.loads(path.read_text())
    edit(d)
    d["integrity"]["digest"] = io.digest_of(d)
    return json.dumps(d)


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
        # the crashes and forgeries of issue 28, each a file (resealed where it matters)
        "dupkeys.json": GOLDEN_NULL.read_text().replace("{", '{"run_id": null, ', 1),
        "big-number.json": GOLDEN_NULL.read_text().replace('"metrics": {', '"metrics": {"x": 1e999, ', 1),
        "feb30.json": _resealed(lambda d: d.__setitem__("created_utc", "2026-02-30T00:00:00Z")),
        "month13.json": _resealed(lambda d: d.__setitem__("finished_utc", "2026-13-01T00:00:00Z")),
        "threads-list.json": _resealed(lambda d: d["workloads"][0]["params"].__setitem__("threads", [1, 2])),
        "threads-str.json": _resealed(lambda d: d["workloads"][0]["params"].__setitem__("threads", "all")),
        "fleet-v1-str.json": _resealed(lambda d: d["totals"][0].__setitem__("rate", "lots"), FLEET_V1),
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
    assert code in (0, 1, 2, 3), f"{where}: exit {code}\n{err}"
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
                                  "fleet-newer.json", "fleet-str.json", "fleet-bad.json", "dupkeys.json",
                                  "big-number.json", "feb30.json", "month13.json", "fleet-v1-str.json"])
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


@pytest.mark.parametrize(("name", "says"), [
    ("dupkeys.json", "the key 'run_id' appears twice in one object"),
    ("big-number.json", "the number 1e999 is beyond a float's range"),
    ("feb30.json", "created_utc"),
    ("month13.json", "finished_utc"),
    ("fleet-v1-str.json", "totals.0.rate"),
])
def test_each_crash_input_is_one_line(name: str, says: str, files: dict[str, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "verify", str(files[name]))
    assert code == 1 and says in out and "Traceback" not in err


@pytest.mark.parametrize("name", ["threads-list.json", "threads-str.json"])
def test_params_of_any_type_never_crash_a_bound(name: str, files: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["verify", str(files[name])], ["report", str(files[name])], ["econ", str(files[name])]):
        code, _, err = run_main(capsys, *args)
        _check(args, code, err)


def test_a_fifo_and_dev_zero_are_refused_at_once(tmp_path: Path) -> None:
    """verify on a FIFO used to block forever, and /dev/zero was read without limit: only regular
    files are read, and those up to a cap."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        proc = subprocess.run([sys.executable, "-m", "benchhash", "verify", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 1 and "not a regular file" in proc.stdout and "Traceback" not in proc.stderr


def test_a_file_over_the_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from benchhash import fsutil
    monkeypatch.setattr(fsutil, "MAX_READ_BYTES", 1000)
    monkeypatch.setattr(fsutil.read_bytes, "__defaults__", (fsutil.InputError, 1000))
    code, out, _ = run_main(capsys, "verify", str(GOLDEN_NULL))
    assert code == 1 and "larger than benchhash reads (1,000 bytes)" in out


@pytest.mark.parametrize(("text", "says"), [
    ("hour_start_utc,price_usd_per_mwh\n0001-01-01T00:00Z,30\n0001-01-01T01:00Z,31\n", "the year 1 is outside"),
    ("hour_start_utc,price_usd_per_mwh\n9999-12-31T22:00Z,30\n9999-12-31T23:00Z,31\n", "the year 9999 is outside"),
    ("DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag\n12/31/9999,23:00,HB_WEST,30,N\n"
     "12/31/9999,24:00,HB_WEST,30,N\n", "the year 9999 is outside"),
])
def test_price_series_at_the_ends_of_the_calendar(text: str, says: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text(text)
    args = ["econ", "--hourly", "--prices", str(prices)]
    code, _, err = run_main(capsys, *args)
    _check(args, code, err)
    assert code == 2 and says in err


def test_4cp_a_file_that_is_not_text_and_a_list_longer_than_a_file_name(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "4cp.txt"
    bad.write_bytes(b"\xff\xfe2023-08-01T20:00")
    args = ["econ", "--hourly", "--4cp", str(bad)]
    code, _, err = run_main(capsys, *args)
    _check(args, code, err)
    assert code == 2 and "not UTF-8" in err
    hours = ",".join(f"2023-08-{d:02d}T{h:02d}:00" for d in range(1, 3) for h in range(16))   # 32 hours
    args = ["econ", "--hourly", "--4cp", hours, "--json"]
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    assert "File name too long" not in err and json.loads(out)["hourly"]


def test_a_replayed_trace_of_1e308_watts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"interval_s": 0.1, "samples": [{"power_w": 1e308}]}))
    args = ["run", "--device", "cpu", "--workloads", "sha256d", "--duration", "0.1", "--trials", "1", "--warmup", "0",
            "--meter", f"replay:{trace}", "--out", str(tmp_path / "r.json")]
    code, _, err = run_main(capsys, *args)
    _check(args, code, err)
    assert code == 2 and "power_w must be a non-negative number, at most 100000" in err


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                    | st.text(max_size=12), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
_NULL = json.loads(GOLDEN_NULL.read_text())


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document, a long list's first items only."""
    out = [prefix]
    items = data.items() if isinstance(data, dict) else enumerate(data[:2]) if isinstance(data, list) else []
    for k, v in items:
        out += _paths(v, (*prefix, k))
    return out


PLACES = [p for p in _paths(_NULL) if p and p[0] not in ("integrity",)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=st.sampled_from(PLACES), value=JSON)
def test_hypothesis_result_files_for_every_command(place: tuple[Any, ...], value: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A real result with one value anywhere replaced by any JSON (resealed, so every check runs):
    verify, report, compare, merge and econ answer, in one line when they refuse."""
    d = copy.deepcopy(_NULL)
    target = d
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    d["integrity"]["digest"] = io.digest_of(d) if _encodable(d) else "0" * 64
    f = tmp_path / "fuzzed.json"
    f.write_text(json.dumps(d))
    for args in (["verify", str(f)], ["report", str(f)], ["compare", str(GOLDEN_NULL), str(f), "--allow-unverified"],
                 ["merge", str(f), "-o", str(tmp_path / "fleet.json")], ["econ", str(f), "--draws", "10"]):
        code, _, err = run_main(capsys, *args)
        _check(args, code, err)


def _encodable(d: dict[str, Any]) -> bool:
    try:
        io.digest_of(d)
    except ValueError:
        return False
    return True

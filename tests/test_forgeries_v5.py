"""Round 3 of forged result files (issue 28): each kind the issue lists, made as a forger who knows
the digest rule would make it (edited, then resealed), and caught by a check that cannot be
switched off, with its one-line reason. The forgeries the issue tried are kept outside the
project; these are made here from the golden files and a fresh AI run. Fleets are forged in
test_fleet.py (their rank files come from a torchrun), signatures in test_sign.py, hostile
inputs in test_fuzz.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchhash.results import io
from benchhash.results.model import METHODOLOGY_VERSION
from benchhash.results.shares import PackedShares, pack, unpack
from benchhash.review.verify import verdict, verify_data, verify_result
from benchhash.sha256d.header import hash_to_int, sha256d
from benchhash.workloads.base import SEED_RULE_V1
from conftest import run_cli
from test_forgeries import restat, shrink_seconds

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"      # v6, replayed power and telemetry
NULL = ROOT / "tests" / "data" / "golden" / "cpu-null.json"          # v6, no energy reading
V5 = ROOT / "tests" / "data" / "golden" / "v5" / "cpu-replay.json"   # the same run as v5 wrote it
V1 = ROOT / "tests" / "data" / "golden" / "v1" / "cpu-replay.json"
V4 = ROOT / "tests" / "data" / "golden" / "v4" / "cpu-replay.json"
H100 = "NVIDIA H100 80GB HBM3"


def load(path: Path) -> dict[str, Any]:
    return copy.deepcopy(io.read_json(path))


def reseal(d: dict[str, Any]) -> list[str]:
    d["integrity"]["digest"] = io.digest_of(d)
    return verify_data(d, "forged")


def any_in(problems: list[str], needle: str) -> bool:
    return any(needle in p for p in problems)


def scan(d: dict[str, Any]) -> dict[str, Any]:
    return d["workloads"][0]


def stamps_follow(d: dict[str, Any]) -> None:
    """The wall-clock stamps edited to agree with shortened seconds, as a careful forger would."""
    for w in d["workloads"]:
        for t in w["trials"]:
            t["ended_unix_s"] = t["started_unix_s"] + t["seconds"]


# --- binding cannot be switched off -------------------------------------------------------------
def test_the_genuine_files_prove_everything_they_claim() -> None:
    for path in (GOLDEN, NULL):
        v = verdict(path)
        assert v.status == "OK" and v.unproven == [], (path, v.problems, v.unproven)
        assert any("bound to this file's run, rank, host, device, meter and time" in p for p in v.proven)


def test_run_id_taken_out_of_a_current_file() -> None:
    d = load(GOLDEN)
    d["run_id"] = None
    assert any_in(reseal(d), "no run id, but every run of schema 6 has one: the binding was taken out")


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_a_current_file_claiming_an_older_schema(version: int) -> None:
    d = load(GOLDEN)
    d["schema_version"] = version
    problems = reseal(d)
    assert any_in(problems, f"it claims schema {version} but holds ")
    assert any_in(problems, "a newer file relabelled old")


def test_a_current_file_made_to_look_old_still_fails() -> None:
    """Every field v5 added taken out, so that it looks like a v4 file: its proof was bound by
    v5's rule, not v4's; rewriting the rule's text leaves a seed that v4's rule does not give."""
    d = load(V5)
    d["schema_version"] = 4
    for w in d["workloads"]:
        del w["binding"]
    assert any_in(reseal(d), "its seed rule is not schema 4's")
    scan(d)["proof"]["seed_rule"] = SEED_RULE_V1
    assert any_in(reseal(d), "the shares come from another run")


def test_an_old_file_verifies_and_says_what_it_cannot_prove() -> None:
    v = verdict(V1)
    assert v.status == "OK" and v.problems == []
    assert any("not bound to its run (schema 1, before binding)" in u for u in v.unproven)
    assert any("fewer than the protocol's 1,000 shares" in u for u in v.unproven)
    assert not any("bound to this file" in p for p in v.proven)


def test_an_old_file_given_a_newer_field_is_a_relabelled_newer_file() -> None:
    d = load(V1)
    d["run_id"] = "ab" * 16
    assert any_in(reseal(d), "it claims schema 1 but holds run_id, which schema 2 added")


def test_another_runs_shares_in_a_file_claiming_schema_1_are_not_this_runs() -> None:
    """A schema 1 file proves hashes, not its run: verify says so, and the commands that price,
    merge or compare refuse it unless told to take its word."""
    d = load(V1)
    d["workloads"][0]["proof"] = load(NULL)["workloads"][0]["proof"]      # headers need not match the run
    problems = reseal(d)
    assert problems == [] or any_in(problems, "shares")
    from benchhash.errors import InputError
    from benchhash.review.verify import require
    with pytest.raises(InputError, match="does not prove what it claims .*--allow-unverified"):
        require(verdict(V1))


def test_a_cpu_file_relabelled_an_h100() -> None:
    d = load(NULL)
    d["device"].update(kind="cuda", label="cuda:0", name=H100, sm_count=132, pci_bus_id="0000:00:06.0")
    for w in d["workloads"]:
        w["device"] = f"{H100} (cuda:0)"
    problems = reseal(d)
    assert any_in(problems, "sha256d scan: not bound to this run")            # the device is in its seed
    assert any_in(problems, "the proof's seed is not derived from this file's run id, time, host, device")


def test_one_measurement_shown_at_two_power_limits() -> None:
    """A phase copied under another power limit: its label is in its seed, so the copy is not
    bound to the label it claims."""
    d = load(V4)
    twin = copy.deepcopy(scan(d))
    twin["params"]["power_limit_w"] = 300.0
    d["workloads"].append(twin)
    d["config"]["power_limits_w"] = [300.0]
    assert any_in(reseal(d), "sha256d scan @300W: the proof's seed is not derived from this file's run id")


# --- bounds from facts, not from the file's words -------------------------------------------------
@pytest.mark.parametrize("threads", [100_000, [1, 2], "many"])
def test_params_threads_do_not_raise_the_bound(threads: Any) -> None:
    d = load(NULL)
    scan(d)["params"]["threads"] = threads
    shrink_seconds(d, 1000)
    stamps_follow(d)
    assert any_in(reseal(d), "is more than this device can do (200 MH/s: 2 CPU thread(s) at most 100 MH/s each)")


def test_a_machine_recorded_with_a_million_cpus() -> None:
    d = load(NULL)
    cpu = d["environment"]["cpu"]
    cpu["logical_cores"] = cpu["usable_cores"] = 10**6
    shrink_seconds(d, 10**5)
    stamps_follow(d)
    assert any_in(reseal(d), "1024 CPU thread(s) at most 100 MH/s each")


def test_load_counting_other_cpus_than_the_environment() -> None:
    d = load(NULL)
    scan(d)["load"] = {"cpus": 64}
    assert any_in(reseal(d), "its load counts 64 CPUs, the environment 2")


def test_an_exotic_backend_with_no_shares() -> None:
    d = load(NULL)
    w = scan(d)
    w["backend"] = w["params"]["backend"] = "fpga"
    for t in w["trials"]:
        t["proof"]["packed_shares"] = pack([]).model_dump(mode="json")
    problems = reseal(d)
    assert any_in(problems, "backend 'fpga' (params: 'fpga') is not one sha256d runs on this device (cpu)")
    assert any_in(problems, "hashes claimed should give about")


def _target(d: dict[str, Any], bits: int, keep: int) -> None:
    """The share target made harder (the publisher's pick), the shares that do not meet it dropped."""
    w = scan(d)
    target = (1 << (256 - bits)) - 1
    w["proof"]["share_bits"], w["proof"]["share_target"] = bits, f"{target:064x}"
    headers = [bytes.fromhex(h) for h in w["proof"]["headers"]]
    for t in w["trials"]:
        pairs = unpack(PackedShares.model_validate(t["proof"]["packed_shares"]))
        best = sorted(pairs, key=lambda p: hash_to_int(sha256d(headers[p[0]][:76] + p[1].to_bytes(4, "little"))))
        t["proof"]["packed_shares"] = pack(best[:keep]).model_dump(mode="json")


def test_one_share_proving_a_trial() -> None:
    d = load(NULL)
    _target(d, 24, 1)
    assert any_in(reseal(d), "a share target of 24 bits is harder than the protocol's for this work")


def test_zero_shares_under_a_target_nothing_meets() -> None:
    d = load(NULL)
    _target(d, 200, 0)
    assert any_in(reseal(d), "a share target of 200 bits is harder than the protocol's")


# --- telemetry, stamps, validity ----------------------------------------------------------------
def test_telemetry_checks_do_not_switch_off_with_few_samples() -> None:
    d = load(GOLDEN)
    shrink_seconds(d, 10)
    stamps_follow(d)
    for t in scan(d)["trials"]:
        t["telemetry"]["samples"] = 4
    assert any_in(reseal(d), "but polled power averaged")


def test_far_fewer_samples_than_the_window_holds() -> None:
    d = load(GOLDEN)
    shrink_seconds(d, 0.1)               # seconds made 10x longer: the samples stay as they were
    stamps_follow(d)
    assert any_in(reseal(d), "far fewer than the meter takes")


def test_trial_stamps_that_contradict_the_seconds() -> None:
    d = load(NULL)
    scan(d)["trials"][0]["started_unix_s"] -= 30
    assert any_in(reseal(d), "opened and closed")


def test_a_trial_in_the_future() -> None:
    d = load(NULL)
    for t in scan(d)["trials"]:
        t["started_unix_s"] += 10 * 86_400
        t["ended_unix_s"] += 10 * 86_400
    assert any_in(reseal(d), "is not within the run")


def test_validity_is_recomputed() -> None:
    d = load(GOLDEN)
    scan(d)["validity"]["valid"] = False
    assert any_in(reseal(d), "validity.valid is False, but the phase is complete")


def test_a_warning_taken_out_is_recomputed() -> None:
    d = load(GOLDEN)
    warnings = scan(d)["validity"]["warnings"]
    warnings[:] = [w for w in warnings if not w.startswith("clocks limited")]
    assert any_in(reseal(d), "the warning 'clocks limited: sw_power_cap in up to 29 % of samples' follows")


# --- replay stays replay --------------------------------------------------------------------------
def test_a_replayed_trace_relabelled_nvml() -> None:
    d = load(GOLDEN)
    d["environment"]["meter"] = {"name": "nvml", "index": 0, "interval_s": 0.1}
    for t in scan(d)["trials"]:
        t["energy"]["method"] = "nvml-power-polling"
    scan(d)["energy"]["method"] = "nvml-power-polling"
    problems = reseal(d)
    assert any_in(problems, "a GPU's meter (nvml) on a CPU device")
    assert any_in(problems, "sha256d scan: not bound to this run")           # the meter is in its seed


def test_replayed_energy_under_another_meter_name() -> None:
    d = load(GOLDEN)
    d["environment"]["meter"]["name"] = "rapl"
    assert any_in(reseal(d), "energy method 'replay' is not one the rapl meter gives")


# --- names, units, methodology --------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "says"), [
    ("unit", "h\u0430sh", "unit 'h\u0430sh' is not sha256d's ('hash')"),               # a Cyrillic a
    ("device", "AMD\u200b EPYC x2 threads", "holds an invisible or control character (U+200B)"),
])
def test_lookalike_names(field: str, value: str, says: str) -> None:
    d = load(NULL)
    scan(d)[field] = value
    assert any_in(reseal(d), says)


def test_a_methodology_this_benchhash_does_not_know() -> None:
    d = load(NULL)
    d["methodology_version"] = 99
    assert any_in(reseal(d), "methodology version 99 is newer than this benchhash knows")


# --- AI phases bound and recomputed --------------------------------------------------------------
@pytest.fixture(scope="module")
def ai(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A short CPU run of gemm and every llm phase, with replayed power."""
    out = tmp_path_factory.mktemp("ai") / "ai.json"
    proc = run_cli("run", "--device", "cpu", "--workloads", "gemm,llm", "--gemm-size", "256", "--duration", "0.2",
                   "--trials", "2", "--warmup", "0.1", "--llm-phases", "prefill,decode,serve", "--llm-batches", "2",
                   "--serve-concurrency", "2", "--serve-lengths", "8:8", "--meter",
                   f"replay:{ROOT / 'tests' / 'data' / 'replay_h100.json'}", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return io.read_json(out)


def phase(d: dict[str, Any], label: str) -> dict[str, Any]:
    return next(w for w in d["workloads"] if f"{w['workload']} {w['phase']}" == label)


def test_the_genuine_ai_run_proves_what_it_claims(ai: dict[str, Any]) -> None:
    v = verify_result(copy.deepcopy(ai), "ai")
    assert v.status == "OK" and v.unproven == [], (v.problems, v.unproven)
    assert all(w["binding"] and w["binding"]["seed"] for w in ai["workloads"])


def _times(w: dict[str, Any], key: str, k: float) -> None:
    w["metrics"][key] *= k


AI_EDITS: list[tuple[str, Any, str]] = [
    ("gemm tflops", lambda d: _times(phase(d, "gemm fp32"), "tflops", 2),
     "gemm fp32: tflops"),
    ("gemm calls", lambda d: phase(d, "gemm fp32")["trials"][0]["metrics"].__setitem__("calls", 1),
     "FLOPs are not its 1 call(s) of 256x256x256"),
    ("gemm dtype", lambda d: phase(d, "gemm fp32")["params"].__setitem__("dtype", "fp8"),
     "gemm fp32: params say dtype 'fp8', the phase is fp32"),
    ("prefill latency",
     lambda d: phase(d, "llm prefill")["trials"][0]["metrics"].__setitem__("prefill_latency_ms", 0.001),
     "llm prefill trial 0: prefill_latency_ms 0.001 does not follow from its seconds and work"),
    ("decode TPOT", lambda d: _times(phase(d, "llm decode.b2"), "tpot_ms", 0.5), "llm decode.b2: tpot_ms"),
    ("decode MFU on a CPU", lambda d: phase(d, "llm decode.b2")["metrics"].__setitem__("mfu", 0.9),
     "mfu 0.9 claimed, but there is no peak for it to follow from"),
    ("serve TFLOP/s", lambda d: _times(phase(d, "llm serve.c2"), "tflops", 3), "llm serve.c2: tflops"),
    ("serve trial FLOPs", lambda d: phase(d, "llm serve.c2")["trials"][0]["metrics"].__setitem__("flops", 1e15),
     "llm serve.c2 trial 0: flops 1000000000000000.0 does not follow from its records and step counts"),
    ("unknown preset", lambda d: phase(d, "llm decode.b2")["params"].__setitem__("preset", "giant"),
     "unknown llm preset 'giant'"),
    ("binding removed", lambda d: phase(d, "gemm fp32").__setitem__("binding", None),
     "gemm fp32: not bound to this run"),
    ("binding from another run", lambda d: phase(d, "gemm fp32")["binding"].__setitem__("seed", "0" * 32),
     "gemm fp32: not bound to this run"),
]


@pytest.mark.parametrize(("what", "edit", "says"), AI_EDITS, ids=[e[0] for e in AI_EDITS])
def test_an_ai_phase_forged(ai: dict[str, Any], what: str, edit: Any, says: str) -> None:
    d = copy.deepcopy(ai)
    edit(d)
    assert any_in(reseal(d), says), reseal(d)


def test_a_cpu_gemm_claiming_h100_rates(ai: dict[str, Any]) -> None:
    """Seconds cut to claim 47 TFLOP/s: beyond two CPU threads; relabelled an H100 as well, its
    phases are not bound to the device they claim, and a CPU-only torch cannot have run there."""
    d = copy.deepcopy(ai)
    w = phase(d, "gemm fp32")
    for t in w["trials"]:
        t["seconds"] = t["energy"]["seconds"] = t["work"] / 47e12
        t["rate"] = t["work"] / t["seconds"]
        t["energy"]["average_w"] = t["energy"]["energy_j"] / t["seconds"]
        t["work_per_joule"] = t["work"] / t["energy"]["energy_j"]
        t["ended_unix_s"] = t["started_unix_s"] + t["seconds"]
    restat(w)
    w["metrics"]["tflops"] = 47.0
    assert any_in(reseal(d), "gemm fp32: 47.0 TFLOP/s is more than this device can do")
    d["device"].update(kind="cuda", label="cuda:0", name=H100, sm_count=132, pci_bus_id="0000:00:06.0")
    for x in d["workloads"]:
        x["device"] = H100
    problems = reseal(d)
    assert any_in(problems, "gemm fp32: not bound to this run") and any_in(problems, "is a CPU-only build")


def test_report_and_compare_say_unproven_and_refuse(cli: Any, tmp_path: Path) -> None:
    """An old file's rates are shown as unproven, and compare refuses it unless told."""
    r = cli("report", str(V1), "--format", "csv")
    assert r.returncode == 0 and "UNPROVEN: sha256d scan: not bound to its run" in r.stdout
    refused = cli("compare", str(V1), str(V1))
    assert refused.returncode == 2 and "does not prove what it claims" in refused.stderr
    taken = cli("compare", str(V1), str(V1), "--allow-unverified")
    assert taken.returncode == 0 and "UNVERIFIED: " in taken.stdout


# --- compare fails closed -------------------------------------------------------------------------
def _slower(tmp_path: Path, edit: Any) -> Path:
    """The null golden 5x slower, then edited and resealed."""
    d = load(NULL)
    shrink_seconds(d, 0.2)
    stamps_follow(d)
    edit(d)
    d["integrity"]["digest"] = io.digest_of(d)
    out = tmp_path / "new.json"
    out.write_text(json.dumps(d))
    return out


@pytest.mark.parametrize(("edit", "refused", "closed"), [
    (lambda d: scan(d).__setitem__("unit", "h\u0430sh"), "is not sha256d's", "another unit of work"),
    (lambda d: d.__setitem__("methodology_version", METHODOLOGY_VERSION + 1),
     f"methodology version {METHODOLOGY_VERSION + 1} is newer", "another methodology"),
])
def test_compare_fails_closed(tmp_path: Path, cli: Any, edit: Any, refused: str, closed: str) -> None:
    new = _slower(tmp_path, edit)
    r = cli("compare", str(NULL), str(new))
    assert r.returncode == 2 and refused in r.stderr
    r = cli("compare", str(NULL), str(new), "--allow-unverified")
    assert r.returncode == 3 and closed in r.stdout and "not compared" in r.stderr


def test_compare_refuses_a_hidden_character_even_on_its_word(tmp_path: Path, cli: Any) -> None:
    new = _slower(tmp_path, lambda d: d["device"].__setitem__("name", "AMD\u200bEPYC"))
    r = cli("compare", str(NULL), str(new), "--allow-unverified")
    assert r.returncode == 2 and "U+200B" in r.stderr


def test_compare_pairs_names_as_nfkc_normalises_them(tmp_path: Path, cli: Any) -> None:
    """A fullwidth device name is the same device: compared (and found slower), not 'incomparable'."""
    new = _slower(tmp_path, lambda d: scan(d).__setitem__("device", "ＡＭＤ EPYC x2 threads"))
    r = cli("compare", str(NULL), str(new), "--allow-unverified")
    assert "not compared" not in r.stdout and "slower than REF" in r.stdout


# --- economics prices what is proven ---------------------------------------------------------------
def test_econ_refuses_an_old_file_unless_told_and_says_so(cli: Any) -> None:
    refused = cli("econ", str(V1), "--draws", "10")
    assert refused.returncode == 2 and "does not prove what it claims" in refused.stderr
    taken = cli("econ", str(V1), "--draws", "10", "--allow-unverified", "--json")
    assert taken.returncode == 0 and "used on its word" in taken.stderr
    assert any("priced on its word (--allow-unverified)" in n for n in json.loads(taken.stdout)["notes"])


def test_econ_labels_replayed_watts_replayed(cli: Any) -> None:
    r = cli("econ", str(GOLDEN), "--draws", "10", "--json")
    labels = [u["label"] for u in json.loads(r.stdout)["uses"]]
    assert "mining, AMD EPYC (replayed)" in labels and not any("(measured)" in x for x in labels)


def test_a_version_1_fleet_file_written_from_scratch(tmp_path: Path, cli: Any) -> None:
    """No node files beside it: verify fails it, and econ never prices it, told to or not."""
    fleet = json.loads((ROOT / "tests" / "data" / "fleet-v1" / "fleet.json").read_text())
    fleet["totals"][0]["rate"] = 1e15
    for node in fleet["nodes"]:
        node["workloads"][0]["rate"] = 5e14
    fleet["integrity"]["digest"] = io.digest_of(fleet)
    f = tmp_path / "fleet.json"
    f.write_text(json.dumps(fleet))
    assert verdict(f).status == "FAIL"
    for allow in ([], ["--allow-unverified"]):
        r = cli("econ", str(f), "--draws", "10", *allow)
        assert r.returncode == 2 and "no rank file is beside it" in r.stderr

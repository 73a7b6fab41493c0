"""The GPU catalogue (data/gpus.json, hw/catalogue.py; peaks, prices, system watts and tuned launches
are read through it): one entry per part, matched by exact name, so an H200 NVL or a GH200 never
gets the H200 SXM's figures; and the prices econ sees are the ones the regex table gave."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchhash.econ import market, uses
from benchhash.hw import catalogue
from benchhash.results.model import Device
from benchhash.workloads import peaks

ROOT = Path(__file__).resolve().parents[1]
GH200_96_BYTES = 97871 * 2**20            # what NVML reports on an 'NVIDIA GH200 480GB'
GH200_144_BYTES = 153_008_209_920         # and on an 'NVIDIA GH200 144G HBM3e'


def key(name: str, **kw: Any) -> str | None:
    hit = peaks.lookup(name, **kw)
    return None if hit is None else hit[0]


def test_every_nvml_name_maps_to_exactly_one_part() -> None:
    seen: dict[str, str] = {}
    for k, entry in peaks.table().items():
        assert entry["nvml_names"], k
        for name in entry["nvml_names"]:
            assert name.startswith("NVIDIA "), name
            assert peaks.candidates(name) == [k], name
            assert peaks.normalise(name) not in seen, (name, seen.get(peaks.normalise(name)))
            seen[peaks.normalise(name)] = k


@pytest.mark.parametrize(("name", "part"), [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA H200 NVL", "H200 NVL"), ("NVIDIA GH200 480GB", "GH200 96GB"),
    ("NVIDIA GH200 120GB", "GH200 96GB"), ("NVIDIA GH200 144G HBM3e", "GH200 144GB"),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM4 80GB"), ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100 SXM4 40GB"), ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB"),
    ("NVIDIA L40S", "L40S"), ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("NVIDIA B200", "B200"),
    # spellings: case, spacing, no prefix, a MIG profile, a device label, the catalogue key
    ("nvidia  h100 80gb HBM3", "H100 SXM"), ("H200 NVL", "H200 NVL"), ("NVIDIA H200 MIG 1g.18gb", "H200 SXM"),
    ("NVIDIA H100 80GB HBM3 (cuda:0)", "H100 SXM"), ("H100 SXM", "H100 SXM"), ("H200 SXM", "H200 SXM"),
])
def test_each_name_is_its_own_part(name: str, part: str) -> None:
    assert key(name) == part


def test_an_h200_nvl_gets_its_own_figures_not_the_sxm_ones() -> None:
    hit = peaks.entry_for_name("NVIDIA H200 NVL")
    assert hit is not None and hit[0] == "H200 NVL"
    assert hit[1]["tflops"]["bf16"] == 835.5 and hit[1]["tflops"]["fp8"] == 1670.5
    assert hit[1]["board_power_w"] == 600
    peak = peaks.peak_flops("NVIDIA H200 NVL", "bf16")
    assert peak is not None and peak[0] == pytest.approx(835.5e12) and peak[1].startswith("H200 NVL:")
    sxm = peaks.entry_for_name("NVIDIA H200")
    assert sxm is not None and sxm[1]["tflops"]["bf16"] == 989.4 and sxm[1]["board_power_w"] == 700


def test_a_gh200_is_not_an_h200() -> None:
    for name in ("NVIDIA GH200 480GB", "NVIDIA GH200 144G HBM3e"):
        part = key(name)
        assert part is not None and part.startswith("GH200"), name
    bw = peaks.memory_bandwidth("NVIDIA GH200 480GB")
    assert bw is not None and bw[0] == pytest.approx(4000e9)


@pytest.mark.parametrize("name", [
    "NVIDIA H200X", "H2000", "NVIDIA GB200", "NVIDIA H100", "NVIDIA H800", "Tesla T4", "AMD Instinct MI300X",
    "NVIDIA H200 NVL2", "GH200 480GB extra", "", "cpu",
])
def test_an_unknown_name_is_no_part(name: str) -> None:
    assert peaks.lookup(name) is None and peaks.peak_flops(name, "bf16") is None


def test_a_shared_name_is_settled_by_memory_and_stays_unknown_without_it() -> None:
    assert sorted(peaks.candidates("GH200")) == ["GH200 144GB", "GH200 96GB"]
    assert key("GH200") is None
    assert key("GH200", memory_bytes=GH200_96_BYTES) == "GH200 96GB"
    assert key("GH200", memory_bytes=GH200_144_BYTES) == "GH200 144GB"
    assert key("GH200", memory_bytes=80 * 2**30) is None                 # neither part's memory
    whole = Device(kind="cuda", name="NVIDIA GH200", memory_bytes=GH200_144_BYTES)
    hit = peaks.catalogue_entry(whole)
    assert hit is not None and hit[0] == "GH200 144GB"


def test_a_shared_name_is_settled_by_power_when_memory_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"tflops": {"bf16": 1.0}, "memory_bandwidth_gb_s": 1, "memory_gb": 80, "sms": 1}
    fake = {"Card 300W": {**base, "nvml_names": ["NVIDIA Card"], "board_power_w": 300, "power_range_w": [250, 300]},
            "Card 700W": {**base, "nvml_names": ["NVIDIA Card"], "board_power_w": 700}}
    monkeypatch.setattr(catalogue, "table", lambda: fake)
    assert key("NVIDIA Card") is None
    assert key("NVIDIA Card", memory_bytes=80 * 2**30) is None           # same memory: still two
    assert key("NVIDIA Card", memory_bytes=80 * 2**30, power_limit_w=275) == "Card 300W"
    assert key("NVIDIA Card", power_limit_w=700) == "Card 700W"
    assert key("NVIDIA Card", power_limit_w=500) is None


def test_a_mig_slice_resolves_to_its_parent_card_without_using_its_memory() -> None:
    mig = Device(kind="cuda", name="NVIDIA H100 80GB HBM3 MIG 3g.40gb", sm_count=60,
                 memory_bytes=40 * 2**30, mig_profile="3g.40gb")
    hit = peaks.catalogue_entry(mig)
    assert hit is not None and hit[0] == "H100 SXM"
    peak = peaks.device_peak_flops(mig, "bf16")
    assert peak is not None and peak[0] == pytest.approx(989.4e12 * 60 / 132)
    gh = Device(kind="cuda", name="NVIDIA GH200 144G HBM3e MIG 3g.72gb", sm_count=60,
                memory_bytes=72 * 2**30, mig_profile="3g.72gb")
    share = peaks.mig_share(gh)
    assert share is not None and share[1] == pytest.approx(72 / 144)
    bw = peaks.device_memory_bandwidth(gh)
    assert bw is not None and bw[0] == pytest.approx(4900e9 * 72 / 144)


def _dated(x: dict[str, Any], prefix: str = "") -> None:
    assert x[f"{prefix}source"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", x[f"{prefix}date"]), prefix


def test_every_entry_is_sourced_dated_and_positive() -> None:
    for k, e in peaks.table().items():
        _dated(e)
        assert e["tflops"] and all(v > 0 for v in e["tflops"].values()), k
        for field in ("memory_bandwidth_gb_s", "memory_gb", "sms", "board_power_w"):
            assert e[field] > 0, (k, field)
        low, high = e.get("power_range_w", (e["board_power_w"], e["board_power_w"]))
        assert 0 < low <= high == e["board_power_w"], k
        assert set(e["tflops"]) <= {"fp8", "bf16", "fp16", "tf32", "fp32"}, k
        for kind in ("sustained_", "burst_"):
            if f"{kind}tflops" in e:
                _dated(e, kind)
                for dtype, v in e[f"{kind}tflops"].items():
                    assert 0 < v < e["tflops"][dtype], (k, kind, dtype)


def test_sustained_matmul_sits_below_the_burst_and_the_datasheet() -> None:
    h200 = peaks.table()["H200 SXM"]
    assert h200["sustained_tflops"] == {"bf16": 708.5, "fp8": 1288.7} and h200["sustained_date"] == "2026-08-10"
    for e in peaks.table().values():
        for dtype, v in e.get("sustained_tflops", {}).items():
            assert v < e["burst_tflops"][dtype] < e["tflops"][dtype]


# The rule before the catalogue: the longest match string that occurs anywhere in the name.
OLD_MATCH = {"H100 SXM": ["H100 80GB HBM3", "H100 SXM"], "H100 PCIe": ["H100 PCIe"], "H200": ["H200"],
             "A100": ["A100"], "A100 40GB": ["A100-SXM4-40GB", "A100-PCIE-40GB", "A100 40GB"],
             "L40S": ["L40S"], "RTX 4090": ["RTX 4090"], "B200": ["B200"]}
RENAMED = {"H200": "H200 SXM"}


def old_key(name: str) -> str | None:
    hits = [(len(m), k) for k, ms in OLD_MATCH.items() for m in ms if m.lower() in name.lower()]
    return max(hits)[1] if hits else None


def _device_names(x: Any) -> set[str]:
    if isinstance(x, dict):
        found = {v for k, v in x.items() if k in ("device", "gpu", "name") and isinstance(v, str)
                 and v.startswith("NVIDIA")}
        return found.union(*(_device_names(v) for v in x.values()))
    if isinstance(x, list):
        return set().union(*(_device_names(v) for v in x))
    return set()


def test_every_device_name_in_results_keeps_its_part() -> None:
    found: set[str] = set()
    for path in (ROOT / "results").rglob("*.json"):
        try:
            found |= _device_names(json.loads(path.read_text()))
        except json.JSONDecodeError:       # a file a running benchmark has not finished writing
            continue
    assert "NVIDIA H100 80GB HBM3" in found
    for name in sorted(found):
        old = old_key(name)
        assert old is not None and key(name) == RENAMED.get(old, old), name


def test_every_system_names_a_catalogue_part() -> None:
    for name, system in market.systems()["systems"].items():
        hit = peaks.entry_for_name(system["gpu"])
        assert hit is not None and hit[0] == system["gpu"], name
        assert hit[1]["board_power_w"] == system["gpu_w"], name


@pytest.mark.parametrize(("device", "model_name"), [
    ("NVIDIA H200", "H200"), ("NVIDIA H200 MIG 1g.18gb", "H200"), ("NVIDIA H200 (cuda:0)", "H200"),
    ("NVIDIA H200 NVL", None), ("NVIDIA GH200 480GB", None), ("NVIDIA GH200 144G HBM3e", None),
    ("NVIDIA H100 NVL", None), ("NVIDIA H100 PCIe", "H100 PCIe"),
])
def test_a_new_part_borrows_no_other_parts_price(device: str, model_name: str | None) -> None:
    assert uses.gpu_model(device) == model_name


# What data/gpu_prices.json matched device names by before the catalogue (its 'patterns'), and
# the prices each of its rows gave, as (on demand, 1-year contract, server per GPU): every name a
# device reports gets the same row and the same prices from the catalogue's exact-name lookup.
OLD_PRICE_PATTERNS = {"H100 SXM": ["h100.*(sxm|hbm3)", "h100 80gb hbm3", "^nvidia h100$"], "H100 PCIe": ["h100.*pcie"],
                      "H200": ["^(nvidia )?h200( sxm\\S*)?($| mig | \\()"], "B200": ["b200", "gb200"],
                      "A100": ["a100"], "L40S": ["l40s"], "RTX 4090": ["rtx 4090", "geforce rtx 4090"]}
OLD_PRICES = {"H100 SXM": (2.95, 2.35, 35000), "H100 PCIe": (1.99, 1.39, 30000), "H200": (3.50, 2.45, 40000),
              "B200": (5.25, 3.68, 55000), "A100": (1.2, 0.84, 15000), "L40S": (0.86, 0.9, 12000),
              "RTX 4090": (0.34, 0.27, 3000)}


def old_price_model(device: str) -> str | None:
    name = " ".join(device.lower().split())
    return next((m for m, ps in OLD_PRICE_PATTERNS.items() if any(re.search(p, name) for p in ps)), None)


def reported_names() -> set[str]:
    """Every name a device of a catalogue part reports, as files and econ see it: NVML names,
    aliases, keys, with a device label or a MIG profile; the names in results/; the two names
    the old patterns priced that are no single part."""
    found = {"NVIDIA H100", "NVIDIA GB200", "Tesla T4", "AMD Instinct MI300X", "cpu", ""}
    for k, e in catalogue.table().items():
        for n in (k, *e["nvml_names"], *e.get("aliases", ())):
            found |= {n, f"{n} (cuda:0)", f"{n} MIG 1g.10gb", n.upper()}
    for path in (ROOT / "results").rglob("*.json"):
        try:
            found |= _device_names(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return found


def test_every_reported_name_gets_the_price_row_the_regex_table_gave() -> None:
    for name in sorted(reported_names()):
        assert uses.gpu_model(name) == old_price_model(name), name


def test_every_price_row_gives_the_prices_it_gave() -> None:
    table = market.gpu_prices()
    assert table["reference"] == "H100 SXM" and set(table["models"]) == set(OLD_PRICES)
    for name, (on_demand, contract, server) in OLD_PRICES.items():
        row = table["models"][name]
        got = (row["on_demand"]["value"], row["contract_1y"]["value"], row["server_usd_per_gpu"]["value"])
        assert got == (on_demand, contract, server), name
    assert [b["low"] for b in table["models"]["H100 SXM"]["spread"]][:3] == [1.99, 2.50, 3.50]


def test_a_mixed_fleet_is_priced_only_where_every_name_has_the_same_row() -> None:
    assert uses.gpu_model("2 x NVIDIA A100-SXM4-80GB, 2 x NVIDIA A100-PCIE-40GB") == "A100"
    assert uses.gpu_model("4 x NVIDIA H100 80GB HBM3, 4 x NVIDIA A100-SXM4-80GB") is None


def test_each_system_and_the_reference_gpu_as_econ_reads_them() -> None:
    s = market.systems()
    assert {n: (x["gpu"], x["gpus"], x["system_kw"], x["gpu_w"]) for n, x in s["systems"].items()} == {
        "DGX H100": ("H100 SXM", 8, 10.2, 700), "DGX H200": ("H200 SXM", 8, 10.2, 700),
        "DGX B200": ("B200", 8, 14.3, 1000), "DGX A100": ("A100 SXM4 40GB", 8, 6.5, 400)}
    assert s["reference_gpu"]["name"] == "H100 SXM" and s["reference_gpu"]["system"] == "DGX H100"
    assert uses.system_watts_per_gpu() == pytest.approx(1275.0)


def test_the_tuned_launch_comes_from_the_part_it_was_measured_on() -> None:
    from benchhash.sha256d import cuda
    (t,) = catalogue.tuned_launches().values()
    assert (t.part, t.compute_capability, t.date) == ("H200 SXM", "90", "2026-12-04") and "7.807 GH/s" in t.source
    assert cuda.TUNED == {"90": cuda.Launch(512, 4, ("BH_MIN_BLOCKS=2", "BH_SCHED_PLAIN_ADDS"))}


def test_every_priced_part_names_a_row_and_every_borrowed_row_exists() -> None:
    for k, e in catalogue.table().items():
        assert not ("prices" in e and "prices_of" in e), k
        if "prices_of" in e:
            assert "prices" in catalogue.table()[e["prices_of"]], k
        if "prices" in e:
            _dated(e["prices"]["on_demand"])
    for name, alias in catalogue.catalogue()["priced_as"].items():
        assert catalogue.lookup(name) is None and alias["part"] in catalogue.table() and alias["note"], name

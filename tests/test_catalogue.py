"""The GPU catalogue (data/gpu_peaks.json, workloads/peaks.py): one entry per part, matched by
exact name, so an H200 NVL or a GH200 never gets the H200 SXM's figures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchhash.econ import market, uses
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
    monkeypatch.setattr(peaks, "table", lambda: fake)
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

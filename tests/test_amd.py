"""AMD GPUs through the device layer, on a fake ``amdsmi`` (tests/fake_amdsmi.py) as NVML is
tested on tests/fake_nvml.py: the energy counter, power, clocks and the power cap; errors as
their own exceptions and missing readings as None; the meter the device layer picks (the kernel's
plain-C path under HIP is in test_cuda_backend.py). Nothing here ran on AMD hardware."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchhash.hw import power
from benchhash.hw.amd import AmdGPU, AmdsmiLibraryNotFound, AmdsmiNoPermission, AmdsmiNotSupported, AmdsmiUnknown
from benchhash.hw.gpu import LibraryMissing
from benchhash.hw.gpus import gpus, meter_for, open_gpu
from benchhash.meters import make_meter
from benchhash.meters.base import Reading
from benchhash.meters.gpu import GpuMeter
from benchhash.results.model import Device
from conftest import Cli
from fake_amdsmi import FakeAmdGpu
from fake_time import FakeTime

BDF = "0000:0c:00.0"
MI300X = Device(kind="cuda", name="AMD Instinct MI300X", pci_bus_id=BDF, memory_bytes=192 * 2**30)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    import benchhash.meters.gpu as gpu_meter
    return FakeTime().install_meters(monkeypatch, gpu_meter)


def window(clock: FakeTime, meter: GpuMeter, gpu: FakeAmdGpu, seconds: float, joules: float) -> Reading:
    meter.begin()
    clock.advance(seconds)
    gpu.accumulator += int(joules * 1e6 / gpu.resolution_uj)
    return meter.end()


def test_the_energy_counter_is_the_method_and_polled_power_cross_checks(clock: FakeTime) -> None:
    gpu = FakeAmdGpu(power_w=550)
    with gpu.installed(), GpuMeter(AmdGPU(0), interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.5, joules=0.5 * 550)
        described = meter.describe()
    assert r.energy.method == "amdsmi-energy-counter"
    assert r.energy.energy_j == pytest.approx(275.0, abs=2 * gpu.resolution_uj / 1e6)
    assert r.energy.polled_energy_j == pytest.approx(550 * r.energy.seconds, rel=1e-6)
    assert r.telemetry is not None and r.telemetry.sm_clock_mhz_median == 2100
    assert r.telemetry.temperature_c_max == 55
    assert described["name"] == "amdsmi" and described["gpu"] == "AMD Instinct MI300X"
    assert described["power_source"] == "current_socket_power"
    assert described["energy_counter_resolution_uj"] == pytest.approx(15.259)


def test_no_throttle_reasons_are_recorded_rather_than_zero(clock: FakeTime) -> None:
    gpu = FakeAmdGpu()
    with gpu.installed(), GpuMeter(AmdGPU(0), interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.2, joules=100)
        errors = meter.describe()["poll_errors"]
    assert r.telemetry is not None and r.telemetry.throttle_share == {}
    assert "does not map onto NVML's reason bits" in errors["throttle_reasons"]


def test_a_gpu_before_mi300_is_polled_on_its_average_power_and_says_so(clock: FakeTime) -> None:
    gpu = FakeAmdGpu(current_power=False, average_w=300)
    gpu.fail["amdsmi_get_energy_count"] = "AMDSMI_STATUS_NOT_SUPPORTED"
    with gpu.installed(), GpuMeter(AmdGPU(0), interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.3, joules=0)
        described = meter.describe()
    assert r.energy.method == "amdsmi-power-polling-average"
    assert r.energy.energy_j == pytest.approx(300 * r.energy.seconds, rel=1e-6)
    assert "energy counter unsupported" in (r.energy.reason or "") and described["energy_counter"] is False
    assert described["power_source"] == "average_socket_power"


def test_readings_the_gpu_refuses_are_none_not_zero(clock: FakeTime) -> None:
    gpu = FakeAmdGpu(fail={"amdsmi_get_temp_metric": "AMDSMI_STATUS_NOT_SUPPORTED",
                           "amdsmi_get_clock_info": "AMDSMI_STATUS_NO_PERM"})
    with gpu.installed(), GpuMeter(AmdGPU(0), interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.2, joules=50)
        errors = meter.describe()["poll_errors"]
    assert r.telemetry is not None
    assert r.telemetry.temperature_c_max is None and r.telemetry.sm_clock_mhz_median is None
    assert "not offer" in errors["temperature_c"] and "privileges" in errors["sm_clock_mhz"]


def test_every_amdsmi_error_becomes_its_own_one_line_exception() -> None:
    for status, cls, says in (("AMDSMI_STATUS_NOT_SUPPORTED", AmdsmiNotSupported, "does not offer"),
                              ("AMDSMI_STATUS_NO_PERM", AmdsmiNoPermission, "privileges"),
                              ("AMDSMI_STATUS_FAIL_LOAD_MODULE", AmdsmiLibraryNotFound, "libamd_smi.so"),
                              ("AMDSMI_STATUS_UNKNOWN_ERROR", AmdsmiUnknown, "unexpected")):
        with FakeAmdGpu(fail={"amdsmi_get_power_info": status}).installed(), AmdGPU(0) as gpu:
            with pytest.raises(cls) as info:
                gpu.power_w()
        text = str(info.value)
        assert text.startswith("AMD SMI power info failed:") and says in text and "\n" not in text


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without NVML (an AMD one), whatever this one has."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


def test_without_amdsmi_the_reason_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    with pytest.raises(LibraryMissing, match="need the amdsmi package"):
        AmdGPU(0)


def test_the_device_layer_picks_the_amd_meter_and_lists_the_gpu(no_nvml: None) -> None:
    with FakeAmdGpu().installed():
        gpu = open_gpu(pci_bus_id=BDF)               # no NVML here: AMD SMI finds the GPU
        assert gpu.vendor == "amd" and gpu.memory_bytes() == 192 * 2**30
        gpu.close()
        meter = make_meter("amdsmi", MI300X)
        assert isinstance(meter, GpuMeter) and meter.name == "amdsmi"
        meter.close()
        meter = make_meter("auto", MI300X)
        assert meter.name == "amdsmi"
        meter.close()
        found, reason = gpus()
    assert reason is None and found[0].name == "AMD Instinct MI300X" and found[0].pci_bus_id == BDF
    assert found[0].power_limits.max_w == 750 and found[0].clocks_current.sm_mhz == 2100
    assert found[0].driver == "6.10.5" and found[0].mig_mode.current is False
    assert meter_for(Device(kind="cpu")) == "rapl"


def test_the_power_cap_is_set_in_microwatts_and_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         no_nvml: None) -> None:
    monkeypatch.setenv("BENCHHASH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(power, "SETTLE_S", 0.0)
    with FakeAmdGpu().installed() as gpu:
        with power.capped(MI300X, power.Levels.parse("500,max")) as caps:
            assert caps.levels == [500.0, 750.0]
            for w in caps.levels:
                caps.apply(w)
                assert caps.enforced_w(w) == w
            (_, rec), = power.records()
            assert rec is not None and rec.vendor == "amd" and rec.original_w == 750
        assert gpu.caps_set == [750_000_000, 500_000_000, 750_000_000, 750_000_000]
    assert power.records() == []


def test_a_cap_without_permission_is_refused_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      no_nvml: None) -> None:
    monkeypatch.setenv("BENCHHASH_CACHE_DIR", str(tmp_path / "cache"))
    with FakeAmdGpu(fail={"amdsmi_set_power_cap": "AMDSMI_STATUS_NO_PERM"}).installed():
        with pytest.raises(power.PowerLimitError, match="AMD SMI refused \\(no permission\\)"):
            with power.capped(MI300X, power.Levels.parse("500")):
                raise AssertionError("the block must not run")


# --- a whole run -------------------------------------------------------------------------------------
@pytest.fixture
def rocm_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch as its ROCm build shows an AMD GPU (torch.cuda, with torch.version.hip set), the CPU
    build doing the arithmetic in its place: gemm runs on the CPU while the run measures 'cuda:0'."""
    from types import SimpleNamespace

    import torch

    from benchhash.workloads import gemm
    props = SimpleNamespace(name="AMD Instinct MI300X", pci_domain_id=0, pci_bus_id=0x0C, pci_device_id=0,
                            multi_processor_count=304, total_memory=192 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.version, "hip", "6.4.43482")
    monkeypatch.setattr(torch, "__version__", "2.13.0+rocm6.4")
    monkeypatch.setattr(gemm, "torch_device", lambda device: torch.device("cpu"))


def test_a_run_on_an_amd_gpu_measures_its_energy_through_amdsmi_and_verifies(
        tmp_path: Path, cli: Cli, no_nvml: None, rocm_torch: None) -> None:
    from benchhash.results import io
    out = tmp_path / "mi300x.json"
    with FakeAmdGpu(live_counter=True, power_w=600).installed():
        r = cli("run", "--device", "cuda", "--workloads", "gemm", "--gemm-dtypes", "fp32", "--gemm-size", "256",
                "--duration", "0.2", "--trials", "2", "--warmup", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    result = io.load(out)[0]
    assert result.device.kind == "cuda" and result.device.name == "AMD Instinct MI300X"
    assert result.device.pci_bus_id == BDF
    (phase,) = result.workloads
    assert phase.label == "gemm fp32" and len(phase.trials) == 2
    for t in phase.trials:
        e = t.energy
        assert e.method == "amdsmi-energy-counter" and e.energy_j is not None and e.energy_j > 0
        assert e.average_w == pytest.approx(600, rel=0.05)
    env = result.environment
    assert env.meter["name"] == "amdsmi" and env.meter["gpu"] == "AMD Instinct MI300X"
    (gpu,) = env.gpus
    assert gpu.name == "AMD Instinct MI300X" and gpu.measured and gpu.power_limits.max_w == 750
    v = cli("verify", str(out))
    assert v.returncode == 0, v.stdout + v.stderr

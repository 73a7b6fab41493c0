"""The NVML meter against a fake GPU (pynvml patched with autospec)."""

from __future__ import annotations

import time

import pytest

from benchhash.meters.nvml import NvmlMeter
from benchhash.meters.nvml_errors import (
    NvmlGpuLost, NvmlLibraryNotFound, NvmlNoPermission, NvmlNotSupported, NvmlUnknown, call,
)
from fake_nvml import FakeGpu, nvml_error


def window(meter: NvmlMeter, gpu: FakeGpu, seconds: float, joules: float):
    """Open a window, let the fake counter advance by ``joules``, close it."""
    meter.begin()
    time.sleep(seconds)
    gpu.energy_mj += int(joules * 1000)
    return meter.end()


def test_counter_is_the_method_and_polling_cross_checks() -> None:
    gpu = FakeGpu(power_mw=350_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(meter, gpu, 0.5, joules=0.5 * 350)
    assert r.method == "nvml-energy-counter"
    assert r.energy_j == pytest.approx(175.0)
    assert r.counter_energy_j == pytest.approx(175.0)
    # 350 W held over the window: the polled integral agrees within the poll jitter
    assert r.polled_energy_j == pytest.approx(350 * r.seconds, rel=1e-6)
    assert r.telemetry is not None and r.telemetry.samples >= 10
    assert r.telemetry.power_w_mean == pytest.approx(350.0)
    assert "nvmlDeviceGetFieldValues" in gpu.calls and "nvmlDeviceGetPowerUsage" not in gpu.calls


def test_gap_between_counter_and_polling_is_flagged() -> None:
    gpu = FakeGpu(power_mw=350_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(meter, gpu, 0.3, joules=0.3 * 250)   # counter says 250 W, polls say 350 W
    assert r.gap_pct is not None and r.gap_pct > 30
    assert any("differs from the energy counter" in w for w in r.warnings)


def test_polling_is_the_method_when_the_counter_is_unsupported() -> None:
    gpu = FakeGpu(counter=False, power_mw=200_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(meter, gpu, 0.3, joules=0)
        described = meter.describe()
    assert r.method == "nvml-power-polling"
    assert r.energy_j == pytest.approx(200 * r.seconds, rel=1e-6)
    assert r.counter_energy_j is None
    assert "energy counter unsupported" in (r.reason or "")
    assert described["energy_counter"] is False


def test_instant_field_unsupported_falls_back_to_power_usage_and_says_so() -> None:
    gpu = FakeGpu(instant_field=False, power_mw=300_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(meter, gpu, 0.2, joules=60)
        described = meter.describe()
    assert "nvmlDeviceGetPowerUsage" in gpu.calls
    assert "1 s average" in described["power_source"]
    assert r.polled_energy_j == pytest.approx(300 * r.seconds, rel=1e-6)


def test_unsupported_telemetry_fields_are_none_not_zero() -> None:
    gpu = FakeGpu(fail={"nvmlDeviceGetTemperature": "NVML_ERROR_NOT_SUPPORTED",
                        "nvmlDeviceGetClockInfo": "NVML_ERROR_NO_PERMISSION"})
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(meter, gpu, 0.2, joules=70)
        errors = meter.describe()["poll_errors"]
    assert r.telemetry is not None
    assert r.telemetry.temperature_c_max is None and r.telemetry.sm_clock_mhz_median is None
    assert r.energy_j == pytest.approx(70)
    assert "not offer" in errors["temperature_c"] and "privileges" in errors["sm_clock_mhz"]


def test_counter_failing_mid_run_falls_back_to_polling_with_a_warning() -> None:
    gpu = FakeGpu(power_mw=400_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        meter.begin()
        time.sleep(0.2)
        gpu.fail["nvmlDeviceGetTotalEnergyConsumption"] = "NVML_ERROR_UNKNOWN"
        r = meter.end()
    assert r.method == "nvml-power-polling"
    assert r.energy_j == pytest.approx(400 * r.seconds, rel=1e-6)
    assert any("energy counter read failed mid-run" in w for w in r.warnings)


def test_gpu_lost_mid_run_gives_no_energy_rather_than_zero() -> None:
    gpu = FakeGpu()
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        time.sleep(0.05)
        for fn in ("nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetFieldValues",
                   "nvmlDeviceGetClockInfo", "nvmlDeviceGetTemperature",
                   "nvmlDeviceGetCurrentClocksEventReasons"):
            gpu.fail[fn] = "NVML_ERROR_GPU_IS_LOST"
        meter.begin()
        time.sleep(0.1)
        r = meter.end()
    assert r.energy_j is None and r.average_w is None
    assert "fell off the bus" in (r.reason or "")


def test_throttle_reasons_are_named_and_shared() -> None:
    gpu = FakeGpu(throttle=0x4 | 0x40)   # sw power cap + hw thermal slowdown
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        meter.begin()
        time.sleep(0.15)
        gpu.throttle = 0
        time.sleep(0.15)
        r = meter.end()
        session = meter.session()
    share = r.telemetry.throttle_share
    assert set(share) == {"sw_power_cap", "hw_thermal_slowdown"}
    assert 0.2 < share["sw_power_cap"] < 0.8
    assert session is not None and "sw_power_cap" in session.throttle_share


def test_every_nvml_error_becomes_a_readable_benchhash_error() -> None:
    import pynvml
    for name, cls in (("NVML_ERROR_NOT_SUPPORTED", NvmlNotSupported),
                      ("NVML_ERROR_NO_PERMISSION", NvmlNoPermission),
                      ("NVML_ERROR_GPU_IS_LOST", NvmlGpuLost),
                      ("NVML_ERROR_LIBRARY_NOT_FOUND", NvmlLibraryNotFound),
                      ("NVML_ERROR_UNKNOWN", NvmlUnknown)):
        def boom() -> None:
            raise nvml_error(name)
        with pytest.raises(cls) as info:
            call(pynvml, "power", boom)
        assert str(info.value).startswith("NVML power failed:")


def test_init_failure_is_a_one_line_error() -> None:
    gpu = FakeGpu(init_error="NVML_ERROR_DRIVER_NOT_LOADED")
    with gpu.installed(), pytest.raises(Exception) as info:
        NvmlMeter(0)
    assert "driver is not loaded" in str(info.value) and "\n" not in str(info.value)


def test_provenance_reads_every_field_and_names_the_missing_ones() -> None:
    from benchhash.provenance import gpus
    gpu = FakeGpu(fail={"nvmlDeviceGetVbiosVersion": "NVML_ERROR_NOT_SUPPORTED"})
    with gpu.installed():
        found, reason = gpus()
    assert reason is None and len(found) == 1
    g = found[0]
    assert g["name"] == "NVIDIA H100 80GB HBM3" and g["pci_bus_id"] == "00000000:1B:00.0"
    assert g["power_limits"] == {"current_w": 700.0, "default_w": 700.0, "enforced_w": 700.0,
                                 "min_w": 200.0, "max_w": 700.0}
    assert g["cuda_driver_version"] == "13.0" and g["ecc_mode"] == {"current": True, "pending": True}
    assert g["vbios"] is None and "vbios" in g["unavailable"]

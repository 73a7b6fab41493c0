"""The NVML meter against a fake GPU (pynvml patched with autospec), on a fake clock: a window
of 0.5 s holds the polls a 20 ms poller takes in 0.5 s of that clock, however busy the machine."""

from __future__ import annotations

import pytest

from benchhash.hw.nvml import (
    NvmlGpuLost,
    NvmlLibraryNotFound,
    NvmlNoPermission,
    NvmlNotSupported,
    NvmlUnknown,
    call,
)
from benchhash.meters.base import Reading
from benchhash.meters.nvml import NvmlMeter
from fake_nvml import FakeGpu, nvml_error
from fake_time import FakeTime


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The meter's window edges, its polls' time stamps and its poller's ticks on a fake clock."""
    import benchhash.meters.gpu as gpu_meter
    return FakeTime().install_meters(monkeypatch, gpu_meter)


def window(clock: FakeTime, meter: NvmlMeter, gpu: FakeGpu, seconds: float, joules: float) -> Reading:
    """Open a window, let ``seconds`` pass (the poller ticking) and the fake counter advance by
    ``joules``, close it."""
    meter.begin()
    clock.advance(seconds)
    gpu.energy_mj += int(joules * 1000)
    return meter.end()


def test_counter_is_the_method_and_polling_cross_checks(clock: FakeTime) -> None:
    gpu = FakeGpu(power_mw=350_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.5, joules=0.5 * 350)
    assert r.energy.method == "nvml-energy-counter"
    assert r.energy.energy_j == pytest.approx(175.0)
    assert r.energy.counter_energy_j == pytest.approx(175.0)
    # 350 W held over the window: the polled integral agrees within the poll jitter
    assert r.energy.polled_energy_j == pytest.approx(350 * r.energy.seconds, rel=1e-6)
    assert r.telemetry is not None and r.telemetry.samples >= 10   # 25 ticks of 20 ms in 0.5 s, and the edges
    assert r.telemetry.power_w_mean == pytest.approx(350.0)
    assert "nvmlDeviceGetFieldValues" in gpu.calls and "nvmlDeviceGetPowerUsage" not in gpu.calls


def test_gap_between_counter_and_polling_is_flagged(clock: FakeTime) -> None:
    gpu = FakeGpu(power_mw=350_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.3, joules=0.3 * 250)   # counter says 250 W, polls say 350 W
    assert r.energy.gap_pct is not None and r.energy.gap_pct > 30
    assert any("differs from the energy counter" in w for w in r.energy.warnings)


def test_polling_is_the_method_when_the_counter_is_unsupported(clock: FakeTime) -> None:
    gpu = FakeGpu(counter=False, power_mw=200_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.3, joules=0)
        described = meter.describe()
    assert r.energy.method == "nvml-power-polling"
    assert r.energy.energy_j == pytest.approx(200 * r.energy.seconds, rel=1e-6)
    assert r.energy.counter_energy_j is None
    assert "energy counter unsupported" in (r.energy.reason or "")
    assert described["energy_counter"] is False


def test_instant_field_unsupported_falls_back_to_power_usage_and_says_so(clock: FakeTime) -> None:
    gpu = FakeGpu(instant_field=False, power_mw=300_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.2, joules=60)
        described = meter.describe()
    assert "nvmlDeviceGetPowerUsage" in gpu.calls
    assert "1 s average" in described["power_source"]
    assert r.energy.polled_energy_j == pytest.approx(300 * r.energy.seconds, rel=1e-6)


def test_unsupported_telemetry_fields_are_none_not_zero(clock: FakeTime) -> None:
    gpu = FakeGpu(fail={"nvmlDeviceGetTemperature": "NVML_ERROR_NOT_SUPPORTED",
                        "nvmlDeviceGetClockInfo": "NVML_ERROR_NO_PERMISSION"})
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.2, joules=70)
        errors = meter.describe()["poll_errors"]
    assert r.telemetry is not None
    assert r.telemetry.temperature_c_max is None and r.telemetry.sm_clock_mhz_median is None
    assert r.energy.energy_j == pytest.approx(70)
    assert "not offer" in errors["temperature_c"] and "privileges" in errors["sm_clock_mhz"]


def test_counter_failing_mid_run_falls_back_to_polling_with_a_warning(clock: FakeTime) -> None:
    gpu = FakeGpu(power_mw=400_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        meter.begin()
        clock.advance(0.2)
        gpu.fail["nvmlDeviceGetTotalEnergyConsumption"] = "NVML_ERROR_UNKNOWN"
        r = meter.end()
    assert r.energy.method == "nvml-power-polling"
    assert r.energy.energy_j == pytest.approx(400 * r.energy.seconds, rel=1e-6)
    assert any("energy counter read failed mid-run" in w for w in r.energy.warnings)


def test_gpu_lost_mid_run_gives_no_energy_rather_than_zero(clock: FakeTime) -> None:
    gpu = FakeGpu()
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        clock.advance(0.05)
        for fn in ("nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetFieldValues",
                   "nvmlDeviceGetPowerUsage", "nvmlDeviceGetClockInfo", "nvmlDeviceGetTemperature",
                   "nvmlDeviceGetCurrentClocksEventReasons"):
            gpu.fail[fn] = "NVML_ERROR_GPU_IS_LOST"
        meter.begin()
        clock.advance(0.1)
        r = meter.end()
    assert r.energy.energy_j is None and r.energy.average_w is None
    assert "fell off the bus" in (r.energy.reason or "")


def test_throttle_reasons_are_named_and_shared(clock: FakeTime) -> None:
    gpu = FakeGpu(throttle=0x4 | 0x40)   # sw power cap + hw thermal slowdown
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        meter.begin()
        clock.advance(0.15)
        gpu.throttle = 0
        clock.advance(0.15)
        r = meter.end()
        session = meter.session()
    assert r.telemetry is not None
    share = r.telemetry.throttle_share
    assert set(share) == {"sw_power_cap", "hw_thermal_slowdown"}
    assert 0.2 < share["sw_power_cap"] < 0.8          # throttled for half the window's polls
    assert session is not None and "sw_power_cap" in session.throttle_share


def test_every_nvml_error_becomes_a_readable_benchhash_error() -> None:
    import pynvml
    for name, cls in (("NVML_ERROR_NOT_SUPPORTED", NvmlNotSupported),
                      ("NVML_ERROR_NO_PERMISSION", NvmlNoPermission),
                      ("NVML_ERROR_GPU_IS_LOST", NvmlGpuLost),
                      ("NVML_ERROR_LIBRARY_NOT_FOUND", NvmlLibraryNotFound),
                      ("NVML_ERROR_UNKNOWN", NvmlUnknown)):
        def boom(name: str = name) -> None:
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
    from benchhash.hw.gpus import gpus
    gpu = FakeGpu(fail={"nvmlDeviceGetVbiosVersion": "NVML_ERROR_NOT_SUPPORTED"})
    with gpu.installed():
        found, reason = gpus()
    assert reason is None and len(found) == 1
    g = found[0].model_dump()
    assert g["name"] == "NVIDIA H100 80GB HBM3" and g["pci_bus_id"] == "00000000:1B:00.0"
    assert g["power_limits"] == {"current_w": 700.0, "default_w": 700.0, "enforced_w": 700.0,
                                 "min_w": 200.0, "max_w": 700.0}
    assert g["cuda_driver_version"] == "13.0" and g["ecc_mode"] == {"current": True, "pending": True}
    assert g["vbios"] is None and "vbios" in g["unavailable"]


@pytest.mark.parametrize(("value_type", "milliwatts"), [(0, 350_000), (1, 350_000), (2, 350_000),
                                                       (3, 350_000), (4, 350_000), (5, 350_000),
                                                       (6, 60_000)])
def test_every_field_value_type_is_decoded(value_type: int, milliwatts: int, clock: FakeTime) -> None:
    gpu = FakeGpu(value_type=value_type, power_mw=milliwatts)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.2, joules=10)
        described = meter.describe()
    assert described["instant_power_value_type"] == value_type
    assert described["power_source"] == "NVML_FI_DEV_POWER_INSTANT"
    assert r.telemetry is not None and r.telemetry.power_w_mean == pytest.approx(milliwatts / 1000)


def test_a_value_type_this_library_cannot_decode_is_none_not_garbage() -> None:
    import pynvml

    from benchhash.hw.nvml import field_value
    v = pynvml.c_nvmlFieldValue_t()
    v.nvmlReturn, v.valueType = pynvml.NVML_SUCCESS, 42
    assert field_value(pynvml, v) is None


def test_instant_field_failing_mid_run_falls_back_with_a_warning(clock: FakeTime) -> None:
    gpu = FakeGpu(power_mw=300_000)
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        first = window(clock, meter, gpu, 0.2, joules=60)
        gpu.fail["nvmlDeviceGetFieldValues"] = "NVML_ERROR_UNKNOWN"
        second = window(clock, meter, gpu, 0.2, joules=60)
        described = meter.describe()
    assert not first.energy.warnings
    assert any("instant-power field stopped answering" in w for w in second.energy.warnings)
    assert second.energy.polled_energy_j == pytest.approx(300 * second.energy.seconds, rel=1e-6)
    assert "nvmlDeviceGetPowerUsage" in gpu.calls and "1 s average" in described["power_source"]
    assert described["power_fallback"]


def test_drivers_without_clock_event_reasons_use_the_throttle_reasons_call(clock: FakeTime) -> None:
    gpu = FakeGpu(throttle=0x4, fail={"nvmlDeviceGetCurrentClocksEventReasons":
                                      "NVML_ERROR_FUNCTION_NOT_FOUND"})
    with gpu.installed(), NvmlMeter(0, interval_s=0.02) as meter:
        r = window(clock, meter, gpu, 0.15, joules=10)
        described = meter.describe()
    assert r.telemetry is not None and "sw_power_cap" in r.telemetry.throttle_share
    assert described["clock_reasons_call"] == "nvmlDeviceGetCurrentClocksThrottleReasons"
    assert "throttle_reasons" not in described["poll_errors"]


def test_info_survives_every_per_gpu_call_failing(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import run_main
    failing = {f: "NVML_ERROR_UNKNOWN" for f in (
        "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPciInfo", "nvmlDeviceGetMigMode",
        "nvmlDeviceGetTemperature", "nvmlDeviceGetClockInfo")}
    with FakeGpu(fail=failing).installed():
        code, out, err = run_main(capsys, "info")
    assert code == 0, err
    assert "GPU 0 unknown name" in out and "memory n/a" in out and "power limit n/a" in out
    assert "Traceback" not in err


def test_a_mig_instance_is_measured_as_such(fake_cupy: object) -> None:
    from benchhash.hw.device import resolve
    from benchhash.workloads.peaks import device_memory_bandwidth, device_peak_flops
    fake_cupy(name="NVIDIA H100 80GB HBM3 MIG 3g.40gb", sms=60,  # type: ignore[operator]
              memory_bytes=40 * 2**30)
    with FakeGpu(mig_mode=(1, 1)).installed():
        device = resolve("auto")
        meter = NvmlMeter(0, pci_bus_id=device.pci_bus_id, mig_profile=device.mig_profile)
        described = meter.describe()
        meter.close()
    assert device.is_mig and device.mig_profile == "3g.40gb"
    peak = device_peak_flops(device, "bf16")
    assert peak is not None and peak[0] == pytest.approx(989.4e12 * 60 / 132)
    assert "scaled to MIG 3g.40gb: 60/132 SMs" in peak[1]
    bw = device_memory_bandwidth(device)
    assert bw is not None and bw[0] == pytest.approx(3350e9 * 40 / 80)
    assert described["scope"].startswith("whole card") and described["mig_profile"] == "3g.40gb"
    from benchhash.workloads import create
    notes = create("sha256d", device).notes()
    assert notes and "energy and power are the whole card's" in notes[0]


def test_mig_mode_on_without_a_mig_name_is_still_a_mig_instance(fake_cupy: object) -> None:
    from benchhash.hw.device import mig_profile, resolve
    fake_cupy()  # type: ignore[operator]
    with FakeGpu(mig_mode=(1, 1)).installed():
        device = resolve("auto")
    assert device.mig_profile == "unknown"
    assert mig_profile("NVIDIA A100-SXM4-40GB MIG 1g.5gb", None) == "1g.5gb"
    assert mig_profile("NVIDIA H100 80GB HBM3", False) is None
    from benchhash.workloads.peaks import device_peak_flops
    assert device_peak_flops(device, "bf16") is not None       # SMs still scale it


def test_a_gpu_whose_handle_fails_is_listed_not_fatal() -> None:
    from benchhash.hw.gpus import gpus
    with FakeGpu(fail={"nvmlDeviceGetHandleByIndex": "NVML_ERROR_GPU_IS_LOST"}).installed():
        found, reason = gpus()
    assert reason is None and found[0].name is None
    assert "fell off the bus" in found[0].unavailable["handle"]

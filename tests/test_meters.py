"""RAPL (on a fake powercap tree), the null and replay meters, and the power integral."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from benchhash.errors import InputError, MeterError
from benchhash.meters import NullMeter, make_meter
from benchhash.meters.base import Sample, integrate_power, summarize_samples, throttle_names
from benchhash.meters.rapl import RaplMeter
from benchhash.meters.replay import ReplayMeter
from benchhash.results.model import Device


def zone(root: Path, name: str, label: str, energy: int, max_range: int = 262_143_328_850) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def test_integral_of_power_samples_by_hand() -> None:
    s = [Sample(1.0, 100.0), Sample(2.0, 200.0), Sample(3.0, 200.0)]
    # held 100 W over [0.5, 1], trapezoids 150 J + 200 J, held 200 W over [3, 3.5]
    assert integrate_power(s, 0.5, 3.5) == pytest.approx(50 + 150 + 200 + 100)
    assert integrate_power(s[:1], 0.0, 5.0) is None


def test_throttle_names_and_shares() -> None:
    assert throttle_names(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert throttle_names(0x10000) == ["other_0x10000"]
    t = summarize_samples([Sample(0, throttle_reasons=0x4), Sample(1, throttle_reasons=0),
                           Sample(2, throttle_reasons=0x4), Sample(3, throttle_reasons=0x1)])
    assert t.throttle_share == {"gpu_idle": 0.25, "sw_power_cap": 0.5}


def test_rapl_sums_package_and_dram_and_unfolds_a_wrap(tmp_path: Path) -> None:
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000, max_range=1_000_000_000)
    zone(tmp_path, "intel-rapl:0:0", "core", 5)               # inside the package: skipped
    dram = zone(tmp_path, "intel-rapl:0:1", "dram", 10_000_000)
    meter = RaplMeter(tmp_path, interval_s=60)
    meter.begin()
    (pkg / "energy_uj").write_text("4000000\n")              # wrapped: +1 J to the top, +4 J after
    (dram / "energy_uj").write_text("12500000\n")            # +2.5 J
    r = meter.end()
    meter.close()
    assert r.energy.method == "rapl"
    assert r.energy.domains_j == pytest.approx({"package-0": 5.0, "dram-1": 2.5})
    assert r.energy.energy_j == pytest.approx(7.5)


def test_rapl_unreadable_or_missing_says_why(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MeterError, match="does not exist"):
        RaplMeter(tmp_path / "nope")
    with pytest.raises(MeterError, match="no package or dram zone"):
        RaplMeter(tmp_path)
    zone(tmp_path, "intel-rapl:0", "package-0", 1)
    real = Path.read_text

    def root_only(self: Path, *a: object, **k: object) -> str:
        if self.name == "energy_uj":   # as on Linux >= 5.10 for non-root users
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", root_only)
    with pytest.raises(MeterError, match="not readable"):
        RaplMeter(tmp_path)


def test_auto_meter_falls_back_to_null_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    import benchhash.meters.rapl as rapl
    monkeypatch.setattr(rapl, "POWERCAP", tmp_path / "missing")
    monkeypatch.setattr(rapl.RaplMeter.__init__, "__defaults__", (tmp_path / "missing", 1.0))
    meter = make_meter("auto", Device(kind="cpu"))
    assert isinstance(meter, NullMeter) and "does not exist" in meter.reason
    with pytest.raises(MeterError):
        make_meter("rapl", Device(kind="cpu"))
    with pytest.raises(InputError, match="needs a GPU"):
        make_meter("nvml", Device(kind="cpu"))
    with pytest.raises(InputError, match="--meter must be one of"):
        make_meter("wattmeter", Device(kind="cpu"))


def test_null_meter_reads_none_not_zero() -> None:
    m = NullMeter("nothing to read")
    m.begin()
    r = m.end()
    assert r.energy.energy_j is None and r.energy.average_w is None and r.energy.reason == "nothing to read"


def test_replay_meter_energy_matches_its_trace(tmp_path: Path) -> None:
    f = tmp_path / "trace.json"
    f.write_text(json.dumps({"interval_s": 0.01, "samples": [{"power_w": 250.0}]}))
    with ReplayMeter.from_file(f) as m:
        m.begin()
        time.sleep(0.2)
        r = m.end()
    assert r.energy.method == "replay" and r.energy.energy_j == pytest.approx(250 * r.energy.seconds, rel=1e-6)


def test_the_poller_ticks_at_once_and_until_stopped() -> None:
    """meters.base.Ticker, the thread the NVML tests replace with one on a fake clock: started
    (twice: one thread) it ticks at once and goes on ticking; stopped (twice), its thread is gone,
    so no tick follows. Counts and threads, never how many ticks fit in a time."""
    import threading

    from benchhash.meters.base import Ticker
    ticks: list[int] = []
    third, again = threading.Event(), threading.Event()

    def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 3:
            third.set()
        if len(ticks) > stopped_at:
            again.set()

    stopped_at = 1 << 30
    poller = Ticker(tick, 0.001, "test-ticker")
    poller.start()
    poller.start()
    assert [t.name for t in threading.enumerate()].count("test-ticker") == 1
    assert third.wait(timeout=60)                     # a hang guard, not a speed
    poller.stop()
    poller.stop()
    assert "test-ticker" not in [t.name for t in threading.enumerate()]
    stopped_at = len(ticks)
    poller.start()                                    # started again, it ticks again
    assert again.wait(timeout=60)
    poller.stop()
    assert "test-ticker" not in [t.name for t in threading.enumerate()]


@pytest.mark.parametrize(("content", "needle"), [
    ("[1,2", "not JSON"),
    ('{"samples": 3}', "'samples' list"),
    ('{"samples": []}', "no samples"),
    ('{"samples": [{"power_w": -1}]}', "non-negative"),
    ('{"samples": [{"watts": 1}]}', "keys from"),
    ('{"samples": [{"power_w": 1}], "interval_s": 0}', "interval_s"),
])
def test_replay_trace_errors(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "t.json"
    f.write_text(content)
    with pytest.raises(InputError, match=needle):
        ReplayMeter.from_file(f)

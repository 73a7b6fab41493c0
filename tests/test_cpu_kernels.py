"""The CPU kernels against each other and the choice between them: the SHA-NI kernel's H7 equals
the vector kernel's on random headers and nonces (odd counts reach its one-lane tail, nonces wrap
at 2^32), and auto keeps the faster kernel, says why, and never picks one the CPU cannot run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchhash.errors import BackendUnavailable, InputError
from benchhash.sha256d import cpu_choice
from benchhash.sha256d.cpu import CpuBackend, kernel_module
from benchhash.sha256d.cpu_choice import KernelChoice, check_choice, choose, sha_ni_problem
from benchhash.sha256d.primitives import precompute
from conftest import run_main
from fake_time import FakeTime

NO_SHA_NI = sha_ni_problem()
needs_sha_ni = pytest.mark.skipif(NO_SHA_NI is not None, reason=f"sha-ni kernel not testable here: {NO_SHA_NI}")


def h7_reference(header: bytes, nonce: int) -> int:
    """H7 of SHA-256d(header with this nonce), from the plain-Python rounds."""
    from benchhash.sha256d.header import sha256d
    digest = sha256d(header[:76] + (nonce % (1 << 32)).to_bytes(4, "little"))
    return int.from_bytes(digest[28:32], "big")


@needs_sha_ni
@settings(max_examples=40, deadline=None)
@given(header=st.binary(min_size=80, max_size=80), start=st.integers(0, (1 << 32) - 1),
       n=st.integers(1, 300))
def test_sha_ni_h7_equals_simd(header: bytes, start: int, n: int) -> None:
    pre = precompute(header)
    a = np.zeros(n, np.uint32)
    b = np.zeros(n, np.uint32)
    kernel_module("sha-ni").h7_block(pre, start, n, a)
    kernel_module("simd").h7_block(pre, start, n, b)
    assert a.tolist() == b.tolist()
    for i in (0, n - 1):                      # and both are the real hash's H7
        assert int(a[i]) == h7_reference(header, start + i)


@needs_sha_ni
def test_sha_ni_h7_wraps_the_nonce_and_fills_exactly_n() -> None:
    header = bytes(range(80))
    out = np.full(9, 7, np.uint32)
    kernel_module("sha-ni").h7_block(precompute(header), (1 << 32) - 3, 7, out)
    assert [int(v) for v in out[:7]] == [h7_reference(header, (1 << 32) - 3 + i) for i in range(7)]
    assert out[7:].tolist() == [7, 7]          # nothing written past n (the lane tail included)


def _fake(clock: FakeTime, seconds_per_call: float) -> Callable[[np.ndarray, int, int, np.ndarray], None]:
    def h7(pre: np.ndarray, start: int, n: int, out: np.ndarray) -> None:
        if n > 64:                             # the compile-or-load call before the clock starts is free
            clock.advance(seconds_per_call)
    return h7


def test_auto_keeps_the_faster_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibration on a clock that moves only when a fake kernel 'runs' (so a busy machine
    cannot reorder them): the rates are nonces over the kernels' own times, and the faster wins."""
    clock = FakeTime()
    monkeypatch.setattr(cpu_choice, "time", clock)
    monkeypatch.setattr(cpu_choice, "sha_ni_problem", lambda: None)
    loads = {"simd": _fake(clock, 0.02), "sha-ni": _fake(clock, 0.005)}
    got = choose("auto", loads.__getitem__)
    assert got.kernel == "sha-ni" and got.chosen_by == "calibration"
    n = cpu_choice.CALIBRATION_NONCES
    assert got.calibration_hps == {"simd": pytest.approx(n / 0.02), "sha-ni": pytest.approx(n / 0.005)}
    assert got.calibration_hps["sha-ni"] > 2 * got.calibration_hps["simd"]
    loads = {"simd": _fake(clock, 0.005), "sha-ni": _fake(clock, 0.02)}
    assert choose("auto", loads.__getitem__).kernel == "simd"


def test_auto_without_sha_ni_takes_simd_unmeasured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_choice, "sha_ni_problem", lambda: "this CPU has no SHA extensions (sha_ni)")
    def never(kernel: str) -> NoReturn:
        raise AssertionError(f"{kernel} loaded: nothing should be measured")
    got = choose("auto", never)
    assert got == KernelChoice("simd", "only one", "this CPU has no SHA extensions (sha_ni)")
    assert got.metrics() == {"cpu_kernel_chosen_by": "only one",
                             "cpu_kernel_reason": "this CPU has no SHA extensions (sha_ni)"}
    assert got.info() == {"kernel": "simd"}
    with pytest.raises(BackendUnavailable, match="--cpu-kernel sha-ni: this CPU has no SHA"):
        check_choice("sha-ni")
    with pytest.raises(BackendUnavailable, match="--cpu-kernel sha-ni"):
        CpuBackend(kernel="sha-ni")


def test_a_flag_is_obeyed_and_a_bad_one_refused() -> None:
    assert choose("simd", lambda k: pytest.fail("no calibration for a named kernel")) \
        == KernelChoice("simd", "flag")
    with pytest.raises(InputError, match="--cpu-kernel must be one of auto, simd, sha-ni, got 'avx'"):
        CpuBackend(kernel="avx")


def test_user_cpu_features_without_sha_rule_sha_ni_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,+bmi2")
    assert sha_ni_problem() == "NUMBA_CPU_FEATURES is set without +sha"
    monkeypatch.setattr(cpu_choice.platform, "machine", lambda: "aarch64")
    assert sha_ni_problem() == "the SHA-NI kernel needs an x86-64 CPU (this one: aarch64)"


@needs_sha_ni
def test_real_calibration_measures_both_kernels() -> None:
    rates = cpu_choice.calibrate({k: kernel_module(k).h7_block for k in cpu_choice.KERNELS},
                                 nonces=1 << 12, rounds=2)
    assert set(rates) == {"simd", "sha-ni"} and all(v > 0 for v in rates.values())


def test_only_a_real_kernel_is_compiled() -> None:
    with pytest.raises(InputError, match="a CPU kernel is one of simd, sha-ni, got 'auto'"):
        kernel_module("auto")


def test_run_refuses_sha_ni_up_front_where_the_cpu_lacks_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # as `scan` does: one line, exit 2, before anything runs (not a failure inside a result)
    monkeypatch.setattr(cpu_choice, "sha_ni_problem", lambda: "this CPU has no SHA extensions (sha_ni)")
    code, _, err = run_main(capsys, "run", "--device", "cpu", "--workloads", "sha256d", "--quick",
                            "--meter", "null", "--cpu-kernel", "sha-ni", "--out", str(tmp_path))
    assert code == 2
    assert err.strip().splitlines()[-1] == ("benchhash: error: --cpu-kernel sha-ni: "
                                            "this CPU has no SHA extensions (sha_ni)")
    assert not list(tmp_path.iterdir())
    code, _, err = run_main(capsys, "run", "--device", "cpu", "--cpu-kernel", "avx512", "--out", str(tmp_path))
    assert code == 2 and "--cpu-kernel must be one of auto, simd, sha-ni, got 'avx512'" in err

"""The scan engine: genesis found by the CLI, cpu == reference on random headers, overflow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchhash.errors import ScanOverflowError
from benchhash.sha256d import scan
from benchhash.sha256d.cpu import CpuBackend
from benchhash.sha256d.cpu_choice import sha_ni_problem
from benchhash.sha256d.header import GENESIS, hash_to_int, sha256d
from benchhash.sha256d.reference import ReferenceBackend
from conftest import Cli

GENESIS_NONCE = 2083236893
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


def test_genesis_found_by_cli_in_2_20_window(cli: Cli) -> None:
    start = GENESIS_NONCE - (1 << 19) + 12345
    proc = cli("scan", "--header", GENESIS.with_nonce(0).hex(), "--start", str(start),
                   "--count", str(1 << 20), "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["hits"] == [{"nonce": GENESIS_NONCE, "hash": GENESIS_HASH}]
    assert result["scanned"] == 1 << 20
    assert result["backend"] == "cpu"
    assert result["hashes_per_second"] > 0
    assert {"shares", "seconds", "device"} <= result.keys()
    assert result["launch"]["kernel"] in ("simd", "sha-ni")


NO_SHA_NI = sha_ni_problem()
KERNELS = ["simd", pytest.param("sha-ni", marks=pytest.mark.skipif(
    NO_SHA_NI is not None, reason=f"sha-ni kernel not testable here: {NO_SHA_NI}"))]


@pytest.fixture(scope="module", params=KERNELS)
def cpu(request: pytest.FixtureRequest) -> CpuBackend:
    """Every test below runs on each CPU kernel this machine can run."""
    backend = CpuBackend(threads=2, kernel=request.param)
    assert backend.launch_info()["kernel"] == request.param
    return backend


headers = st.binary(min_size=80, max_size=80)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=headers, start=st.integers(0, (1 << 32) - 3000), target_bits=st.integers(4, 12),
       share_bits=st.integers(1, 10))
def test_cpu_equals_reference(cpu: CpuBackend, header: bytes, start: int, target_bits: int,
                              share_bits: int) -> None:
    count = 2000
    target = (1 << (256 - target_bits)) - 1
    kwargs: dict[str, Any] = dict(target=target, share_bits=share_bits)
    fast = scan(header, start, count, backend=cpu, **kwargs)
    slow = scan(header, start, count, backend=ReferenceBackend(), **kwargs)
    assert fast.hits == slow.hits
    assert fast.shares == slow.shares
    assert fast.scanned == slow.scanned == count
    for hit in fast.hits:  # and each hit is a real one
        digest = sha256d(header[:76] + hit.nonce.to_bytes(4, "little"))
        assert digest[::-1].hex() == hit.hash and hash_to_int(digest) <= target


def test_cpu_counts_past_its_buffer(cpu: CpuBackend) -> None:
    # Every nonce qualifies: chunk buffers overflow and must be redone, none lost.
    result = scan(GENESIS, 5, 3000, target=(1 << 256) - 1, backend=cpu)
    assert [h.nonce for h in result.hits] == list(range(5, 3005))


def test_cpu_exact_threshold_boundary(cpu: CpuBackend) -> None:
    # A target equal to a hash qualifies (<=); one below it does not.
    value = hash_to_int(GENESIS.hash())
    assert [h.nonce for h in scan(GENESIS, GENESIS_NONCE, 1, target=value, backend=cpu).hits] == [GENESIS_NONCE]
    assert scan(GENESIS, GENESIS_NONCE, 1, target=value - 1, backend=cpu).hits == []


def test_overflow_is_an_error_not_silence(monkeypatch: pytest.MonkeyPatch, cpu: CpuBackend) -> None:
    import benchhash.sha256d.backend as backend
    monkeypatch.setattr(backend, "MAX_RESULTS", 100)     # read when checked, not at import
    with pytest.raises(ScanOverflowError, match="more than the 100 the result buffer holds"):
        scan(GENESIS, 0, 5000, target=(1 << 256) - 1, backend=cpu)
    with pytest.raises(ScanOverflowError, match="more than the 100"):
        scan(GENESIS, 0, 5000, target=(1 << 256) - 1, backend=ReferenceBackend())

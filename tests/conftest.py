"""Shared fixtures: FIPS 180-4 padding, the genesis block, and GPU/nvcc availability."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys

import pytest


def sha256_blocks(message: bytes) -> list[bytes]:
    """FIPS 180-4 padding: the message as a list of 64-byte blocks."""
    length = struct.pack(">Q", 8 * len(message))
    padded = message + b"\x80" + b"\x00" * ((55 - len(message)) % 64) + length
    return [padded[i:i + 64] for i in range(0, len(padded), 64)]


# FIPS 180-4 / NIST CSRC example digests.
FIPS_VECTORS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]


def has_gpu() -> tuple[bool, str]:
    try:
        from benchhash.sha256d.cuda import import_cupy
        import_cupy()
        return True, ""
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ok, why = has_gpu()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"gpu test skipped, no GPU here: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def nvcc() -> str:
    path = shutil.which("nvcc")
    if path is None:
        pytest.skip("nvcc not found: CUDA kernel compile checks skipped")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`benchhash ARGS` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "benchhash.cli", *args],
                          capture_output=True, text=True, timeout=300)

"""Signed results: Ed25519 OpenSSH keys, SSHSIG signatures over the digest, trusted-keys lists in
ssh-keygen's allowed_signers format, and interoperability with ssh-keygen itself."""

from __future__ import annotations

import base64
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from benchhash.errors import InputError
from benchhash.results import io, sign
from benchhash.review.verdict import Trust
from benchhash.review.verify import verdict
from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"


@pytest.fixture(autouse=True)
def _cryptography() -> None:
    """Signing wraps the cryptography package (a dependency): without it each test here is
    skipped when it is selected, not the module at collection (which `-m gpu` would count)."""
    pytest.importorskip("cryptography", reason="signing needs the cryptography package")


def write_key(path: Path, comment: str = "alice@example", password: bytes | None = None) -> str:
    """An Ed25519 key pair in OpenSSH format; returns the public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(0o600)                                   # ssh-keygen refuses readable private keys
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = f"{public.decode()} {comment}"
    path.with_suffix(".pub").write_text(line + "\n")
    return line


@pytest.fixture
def signed(tmp_path: Path, cli: Cli) -> tuple[Path, Path, str]:
    """A copy of the golden file signed by a fresh key: (file, key, public key line)."""
    f = tmp_path / "r.json"
    f.write_bytes(GOLDEN.read_bytes())
    key = tmp_path / "id_ed25519"
    public = write_key(key)
    proc = cli("sign", str(f), "--key", str(key))
    assert proc.returncode == 0, proc.stderr
    return f, key, public


def test_unsigned_and_signed_files_verify_and_say_who(signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    f, _, public = signed
    assert verdict(GOLDEN).signer.trust is Trust.UNSIGNED and str(verdict(GOLDEN).signer).startswith("unsigned")
    raw = io.read_json(f)
    assert raw["integrity"] == io.read_json(GOLDEN)["integrity"]      # signing changes no digest
    v = verdict(f)
    assert v.status == "OK" and v.signer.trust is Trust.KEY and not v.signer.vouched
    assert str(v.signer).startswith("signed by key SHA256:")
    trusted = tmp_path / "allowed_signers"
    kind, blob, _ = public.split()
    trusted.write_text(f'# who may sign\nalice@example namespaces="benchhash-result" {kind} {blob}\n')
    v = verdict(f, sign.allowed_signers(trusted))
    assert v.status == "OK" and v.signer.vouched and v.signer.names == ("alice@example",)
    assert str(v.signer).startswith("signed by alice@example (trusted key SHA256:")
    assert v.to_json()["signer"] == str(v.signer)
    assert "vouched for" in v.claimed[0]


def test_a_key_not_in_the_trusted_list_fails(signed: tuple[Path, Path, str], tmp_path: Path, cli: Cli) -> None:
    """Asked who vouches (--trusted-keys), a file signed by nobody trusted fails: exit 1."""
    f, _, _ = signed
    other = write_key(tmp_path / "other", "bob@example")
    trusted = tmp_path / "allowed_signers"
    trusted.write_text(f"bob@example {other.split()[0]} {other.split()[1]}\n")
    v = verdict(f, sign.allowed_signers(trusted))
    assert v.status == "FAIL" and "is not trusted by the trusted-keys list" in v.problems[0]
    assert v.signer.trust is Trust.UNTRUSTED and not v.signer.vouched     # "untrusted key" holds "trusted key"
    wrong_space = tmp_path / "wrong"
    public = io.read_json(f)["signature"]["public_key"].split()
    wrong_space.write_text(f'alice@example namespaces="git" {public[0]} {public[1]}\n')
    assert verdict(f, sign.allowed_signers(wrong_space)).status == "FAIL"
    r = cli("verify", str(f), "--trusted-keys", str(trusted))
    assert r.returncode == 1 and "is not trusted" in r.stdout
    assert cli("verify", str(f)).returncode == 0             # no list asked for: who signed is said, not judged


def test_the_signing_time_is_signed(signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    """A key revoked with valid-before cannot be trusted again by moving signed_utc back: the
    time is part of what is signed."""
    f, _, public = signed
    raw = io.read_json(f)
    trusted = tmp_path / "allowed_signers"
    kind, blob, _ = public.split()
    trusted.write_text(f'alice@example valid-before="20200101" {kind} {blob}\n')
    assert verdict(f, sign.allowed_signers(trusted)).status == "FAIL"          # signed after it was revoked
    raw["signature"]["signed_utc"] = "2019-06-01T00:00:00Z"
    f.write_text(io.dumps(raw))
    v = verdict(f, sign.allowed_signers(trusted))
    assert v.status == "FAIL" and "does not match this file's content" in v.problems[0]


def test_an_older_signature_does_not_vouch_under_a_time_window(signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    """A signature over the digest alone (message V1) still checks; its time is only claimed,
    so a key trusted for a time window does not vouch for it, and one trusted always does."""
    f, key, public = signed
    raw = io.read_json(f)
    private = sign.load_key(key)
    raw_sig = private.sign(sign._signed_data(sign.message(raw["integrity"]["digest"])))
    old = sign.sign_digest(private, raw["integrity"]["digest"])
    blob = base64.b64decode(old.signature)
    blob = blob[:-(4 + len(raw_sig))] + sign._string(raw_sig)
    raw["signature"] = {**old.model_dump(mode="json"), "message": sign.V1, "signed_utc": "2019-06-01T00:00:00Z",
                        "signature": base64.b64encode(blob).decode()}
    f.write_text(io.dumps(raw))
    kind, key_blob, _ = public.split()
    always, window = tmp_path / "always", tmp_path / "window"
    always.write_text(f"alice@example {kind} {key_blob}\n")
    window.write_text(f'alice@example valid-after="20190101" {kind} {key_blob}\n')
    assert verdict(f, sign.allowed_signers(always)).status == "OK"
    v = verdict(f, sign.allowed_signers(window))
    assert v.status == "FAIL" and "an older signature, whose time is not signed" in v.problems[0]


def test_editing_a_signed_file_breaks_the_signature(signed: tuple[Path, Path, str]) -> None:
    f, _, _ = signed
    raw = io.read_json(f)
    raw["environment"]["notes"] = "signed, then edited"
    raw["integrity"]["digest"] = io.digest_of(raw)          # re-sealed: the digest holds again
    f.write_text(io.dumps(raw))
    v = verdict(f)
    assert v.status == "FAIL" and any("does not match this file's content" in p for p in v.problems)
    raw = io.read_json(f)
    other = io.read_json(GOLDEN)
    raw["signature"]["public_key"] = "ssh-ed25519 " + "A" * 68          # someone else's name on it
    f.write_text(io.dumps(raw))
    assert verdict(f).status == "FAIL"
    assert other.get("signature") is None


def test_run_signs_and_sign_refuses_what_does_not_verify(tmp_path: Path, cli: Cli) -> None:
    key = tmp_path / "k"
    write_key(key)
    out = tmp_path / "run.json"
    proc = cli("run", "--device", "cpu", "--duration", "0.2", "--trials", "1", "--warmup", "0",
               "--meter", "null", "--sign", str(key), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert verdict(out).status == "OK" and str(verdict(out).signer).startswith("signed by key")
    bad = tmp_path / "bad.json"
    raw = io.read_json(GOLDEN)
    raw["workloads"][0]["trials"][0]["rate"] *= 2
    bad.write_text(io.dumps(raw))
    refused = cli("sign", str(bad), "--key", str(key))
    assert refused.returncode == 2 and "fails verify" in refused.stderr and "signature" not in io.read_json(bad)


def test_keys_that_cannot_sign_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    write_key(locked, password=b"s3cret")
    with pytest.raises(InputError, match="is encrypted: put its passphrase in BENCHHASH_KEY_PASSPHRASE"):
        sign.load_key(locked)
    monkeypatch.setenv("BENCHHASH_KEY_PASSPHRASE", "s3cret")
    assert sign.load_key(locked) is not None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = tmp_path / "rsa"
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_key.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                        serialization.NoEncryption()))
    with pytest.raises(InputError, match="RSA key; benchhash signs with Ed25519 keys only"):
        sign.load_key(rsa_key)
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(InputError, match="is not an OpenSSH private key"):
        sign.load_key(tmp_path / "junk")
    with pytest.raises(InputError, match="cannot read key"):
        sign.load_key(tmp_path / "missing")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed: interop not checked")
def test_ssh_keygen_verifies_our_signature_and_we_verify_its(signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    f, key, public = signed
    raw = io.read_json(f)
    digest, sig = raw["integrity"]["digest"], raw["signature"]["signature"]
    armored = tmp_path / "r.sig"
    armored.write_text("-----BEGIN SSH SIGNATURE-----\n" + "\n".join(textwrap.wrap(sig, 70))
                       + "\n-----END SSH SIGNATURE-----\n")
    allowed = tmp_path / "allowed"
    allowed.write_text(f"alice@example {public.split()[0]} {public.split()[1]}\n")
    message = f"{digest} {raw['signature']['signed_utc']}".encode()       # the digest and the signing time
    check = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "alice@example",
                            "-n", sign.NAMESPACE, "-s", str(armored)], input=message,
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stderr
    made = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", sign.NAMESPACE],
                          input=message, capture_output=True, timeout=30)
    body = "".join(made.stdout.decode().strip().splitlines()[1:-1])
    theirs = sign.Signature.model_validate({**raw["signature"], "signature": body})
    assert sign.check(theirs, digest) is None


def test_a_wrong_passphrase_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    write_key(locked, password=b"right")
    monkeypatch.setenv("BENCHHASH_KEY_PASSPHRASE", "wrong")
    with pytest.raises(InputError, match="wrong passphrase"):
        sign.load_key(locked)

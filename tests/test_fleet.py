"""Fleet runs end to end, as users launch them: torchrun on one machine (the command CI runs),
README's Slurm script and Kubernetes command on two simulated nodes over loopback, a rank
SIGKILLed mid-run, a hung rank named within the timeout, and `--all-gpus`' launcher. Every file
is verified; the fleet's figures are recomputed here from the rank files."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchhash.errors import InputError
from benchhash.results.shares import PackedShares, unpack
from benchhash.review.verify import verdict
from benchhash.workloads.sha256d_proof import MIN_SHARES

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "plugins"
FAULTY = "faulty=faulty_workload:FaultyWorkload"
CPU_ONE = ["--device", "cpu", "--workloads", "sha256d", "--threads", "1", "--warmup", "0"]
SHORT = [*CPU_ONE, "--duration", "1", "--trials", "3"]


def fleet_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("### Fleet runs", 1)[1].split("\n### ", 1)[0]


def readme_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", fleet_section(), re.S)


def torchrun() -> list[str]:
    """`torchrun` as installed beside this Python (the console script), else its module."""
    script = Path(sys.executable).parent / "torchrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(PLUGINS), e.get("PYTHONPATH", "")])
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "BENCHHASH_ALL_GPUS"):
        e.pop(name, None)
    e.update(extra)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def assert_verifies(*paths: Path) -> None:
    for p in paths:
        v = verdict(p)
        assert v.status == "OK", (p, v.problems)


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faulty plug-in workload known in this process too (verify asks it)."""
    monkeypatch.setenv("BENCHHASH_WORKLOADS", FAULTY)
    monkeypatch.syspath_prepend(str(PLUGINS))


@pytest.fixture(scope="module")
def ci_fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """README's (and CI's) two-rank command, run once for the tests that read its files."""
    (line,) = [x for x in readme_blocks("bash")[0].splitlines() if x.startswith("torchrun --standalone")]
    args = shlex.split(line)[1:]
    assert args == ["--standalone", "--nproc-per-node", "2", "-m", "benchhash", "run", "--device", "cpu",
                    "--quick", "--workloads", "sha256d", "--threads", "1", "--out", "fleet-cpu"]
    cwd = tmp_path_factory.mktemp("ci")
    proc = subprocess.run(torchrun() + args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / "fleet-cpu", proc


def test_two_cpu_ranks_under_torchrun_as_ci_runs_them(ci_fleet: tuple[Path, Any]) -> None:
    out, proc = ci_fleet
    assert_verifies(out / "rank-0.json", out / "rank-1.json", out / "fleet.json")
    ranks = [load(out / f"rank-{r}.json") for r in (0, 1)]
    fleet = load(out / "fleet.json")
    assert fleet["complete"] and fleet["lockstep"] and fleet["missing"] == []
    assert {r["fleet"]["run_id"] for r in ranks} == {fleet["run_id"]}
    (phase,) = fleet["phases"]
    trials = [r["workloads"][0]["trials"] for r in ranks]
    assert len(trials[0]) == len(trials[1]) == len(phase["trials"]) == 3
    sums: list[Any] = []
    prev: tuple[Any, ...] = ()
    for a, b, f in zip(*trials, phase["trials"], strict=True):
        # in lockstep: no window opens before every rank closed the one before it (a barrier),
        # and the fleet reports how far apart they opened; how close that is depends on the
        # machine's load (unit-tested on fake clocks in test_lockstep), so it is not asserted here
        if prev:
            assert min(a["started_unix_s"], b["started_unix_s"]) >= max(t["ended_unix_s"] for t in prev)
        assert f["start_spread_s"] == pytest.approx(abs(a["started_fleet_s"] - b["started_fleet_s"]), abs=1e-9)
        prev = (a, b)
        assert f["rate"] == pytest.approx(a["rate"] + b["rate"], rel=1e-12)
        assert f["work"] == a["work"] + b["work"]
        sums.append(a["rate"] + b["rate"])
    assert phase["rate"] == pytest.approx(statistics.median(sums), rel=1e-12)
    assert phase["rate_method"] == "median of per-trial sums"
    assert "fleet: 2 of 2 rank(s)" in proc.stdout
    # each rank's seed holds its rank: the two ranks of one host scanned different nonces
    headers = [set(r["workloads"][0]["proof"]["headers"]) for r in ranks]
    shares = [{(w["proof"]["headers"][j], n) for w in r["workloads"] for t in w["trials"]
               for j, n in unpack(PackedShares.model_validate(t["proof"]["packed_shares"]))} for r in ranks]
    assert headers[0] and headers[1] and not headers[0] & headers[1]
    assert len(shares[0]) > 1000 and len(shares[1]) > 1000 and not shares[0] & shares[1]


def _forged(ci_fleet: tuple[Path, Any], tmp_path: Path, edit: Any) -> list[str]:
    """Problems verify finds in a copy of the CI fleet after ``edit(folder, fleet)``, resealed."""
    import shutil

    from benchhash.results import io
    folder = tmp_path / "copy"
    shutil.copytree(ci_fleet[0], folder)
    fleet = load(folder / "fleet.json")
    edit(folder, fleet)
    fleet["integrity"]["digest"] = io.digest_of(fleet)
    (folder / "fleet.json").write_text(json.dumps(fleet))
    return verdict(folder / "fleet.json").problems


def _short_trials(*paths: Path) -> bool:
    """Whether a trial in these files found fewer shares than the protocol's least."""
    proofs = [t.get("proof") or {} for p in paths for w in load(p)["workloads"] for t in w["trials"]]
    counts = [pr.get("packed_shares", {}).get("count", len(pr.get("shares", []))) for pr in proofs]
    return min(counts) < MIN_SHARES


def _scale_trial(f: dict[str, Any]) -> dict[str, Any]:
    """One trial's sum raised, and the phase's median recomputed to match: self-consistent (the
    fleet file, so that an edit may go on)."""
    p = f["phases"][0]
    p["trials"][0]["rate"] *= 1.5
    p["rate"] = statistics.median(t["rate"] for t in p["trials"])
    return f


@pytest.mark.parametrize(("edit", "says"), [
    (lambda d, f: f["phases"][0].__setitem__("rate", f["phases"][0]["rate"] * 1.1),
     "sha256d scan: the fleet rate is not the median of its per-trial sums"),
    (lambda d, f: _scale_trial(f), "sha256d scan: trials does not follow from the rank files beside it"),
    (lambda d, f: (d / "rank-1.json").write_bytes((ROOT / "tests/data/golden/cpu-null.json").read_bytes()),
     "rank 1: rank-1.json is not the file the fleet recorded"),
    (lambda d, f: f["ranks"][1].__setitem__("host", "elsewhere"), "ranks does not follow from the rank files"),
    (lambda d, f: f.__setitem__("run_id", "0" * 32), "rank-0.json: its run id"),
    (lambda d, f: f["phases"][0]["params"].__setitem__("threads", 64),
     "sha256d scan: params does not follow from the rank files"),
])
def test_a_lockstep_fleet_forged(ci_fleet: tuple[Path, Any], tmp_path: Path, edit: Any, says: str) -> None:
    problems = _forged(ci_fleet, tmp_path, edit)
    assert problems and says in problems[0], problems


def _rank_0_as_rank_1(d: Path, f: dict[str, Any]) -> None:
    """Rank 0's file copied as rank 1 (its rank relabelled, resealed, the fleet's row made to
    match): one rank's work counted twice."""
    from benchhash.results import io
    copy = load(d / "rank-0.json")
    copy["fleet"]["rank"], copy["fleet"]["local_rank"] = 1, 1
    copy["integrity"]["digest"] = io.digest_of(copy)
    (d / "rank-1.json").write_text(json.dumps(copy))
    f["ranks"][1]["digest"] = copy["integrity"]["digest"]


def test_one_rank_copied_as_two(ci_fleet: tuple[Path, Any], tmp_path: Path) -> None:
    problems = _forged(ci_fleet, tmp_path, _rank_0_as_rank_1)
    assert "rank 1: sha256d scan: not bound to this run" in problems[0]          # its seed holds its rank
    assert any("rank-0.json and rank-1.json hold" in p and "of the same shares" in p for p in problems)


def test_a_fleet_file_alone_proves_nothing(ci_fleet: tuple[Path, Any], tmp_path: Path, cli: Any) -> None:
    import shutil
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(ci_fleet[0] / "fleet.json", folder / "fleet.json")
    v = verdict(folder / "fleet.json")
    assert v.status == "FAIL" and "no rank file is beside it: the fleet proves nothing" in v.problems[0]
    r = cli("verify", str(folder / "fleet.json"))
    assert r.returncode == 1 and "--allow-unverified" in r.stdout
    r = cli("verify", str(folder / "fleet.json"), "--allow-unverified")
    assert r.returncode == 0 and "unproven: no rank file is beside it" in r.stdout
    for allow in ([], ["--allow-unverified"]):                 # economics never prices a fleet's word
        r = cli("econ", str(folder / "fleet.json"), "--draws", "10", *allow)
        assert r.returncode == 2 and "no rank file is beside it" in r.stderr


def test_a_fleet_file_from_before_phase_params_still_verifies(ci_fleet: tuple[Path, Any], tmp_path: Path) -> None:
    """Fleet files written before phases carried their params (results/amd-epyc/fleet-*) hold no
    params: nothing claimed there, nothing to differ; every other field is still rebuilt."""
    assert _forged(ci_fleet, tmp_path, lambda d, f: [p.pop("params") for p in f["phases"]]) == []
    assert _forged(ci_fleet, tmp_path / "2", lambda d, f: ([p.pop("params") for p in f["phases"]], _scale_trial(f)))


def test_a_lockstep_fleet_merged_again_is_the_same_fleet(ci_fleet: tuple[Path, Any], cli: Any) -> None:
    out = ci_fleet[0]
    again = out / "again.json"
    r = cli("merge", str(out / "rank-1.json"), str(out / "rank-0.json"), "-o", str(again))
    assert r.returncode == 0 and "benchhash fleet: 2 of 2 rank(s)" in r.stdout
    a, b = load(again), load(out / "fleet.json")
    for k in ("integrity", "created_utc"):
        a.pop(k), b.pop(k)
    assert a == b                                    # merge rebuilds what rank 0 gathered
    assert_verifies(again)
    report = cli("report", str(out / "fleet.json"), "--format", "csv")
    assert report.returncode == 0 and "fleet: median of per-trial sums" in report.stdout
    econ = cli("econ", str(out / "fleet.json"), "--json")
    assert econ.returncode == 0, econ.stderr
    assert json.loads(econ.stdout)["notes"][0].startswith(str(out / "fleet.json") + ": no SHA-256d energy reading")
    again.unlink()


def fake_slurm(bin_dir: Path) -> None:
    """`srun` starting its command once per node (2), `scontrol` naming loopback as the head."""
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(
        "#!/bin/bash\npids=()\nfor n in 0 1; do SLURM_NODEID=$n SLURM_PROCID=$n SLURM_LOCALID=0 \"$@\" & "
        "pids+=($!); done\nrc=0\nfor p in \"${pids[@]}\"; do wait $p || rc=$?; done\nexit $rc\n")
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho 127.0.0.1\necho 127.0.0.1\n")
    for f in ("srun", "scontrol"):
        (bin_dir / f).chmod(0o755)


def test_readme_slurm_script_on_two_simulated_nodes(tmp_path: Path) -> None:
    (script,) = readme_blocks("bash")[1:]
    assert script.startswith("#!/bin/bash\n#SBATCH")
    (tmp_path / "fleet.sbatch").write_text(script)
    fake_slurm(tmp_path / "bin")
    torch_bin = Path(torchrun()[0]).parent
    e = env(PATH=f"{tmp_path / 'bin'}{os.pathsep}{torch_bin}{os.pathsep}{os.environ['PATH']}",
            SLURM_JOB_ID="4242", SLURM_NNODES="2", SLURM_JOB_NODELIST="node[1-2]", GPUS_PER_NODE="1",
            MASTER_PORT=str(free_port()))
    replay = f"replay:{ROOT / 'tests' / 'data' / 'replay_h100.json'}"     # energy, so economics has watts
    proc = subprocess.run(["bash", "fleet.sbatch", *SHORT, "--meter", replay], cwd=tmp_path, env=e,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "results" / "fleet-4242"
    assert_verifies(out / "rank-0.json", out / "rank-1.json", out / "fleet.json")
    fleet = load(out / "fleet.json")
    assert sorted(r["node_rank"] for r in fleet["ranks"]) == [0, 1]      # two nodes, one rank each
    assert [r["local_rank"] for r in fleet["ranks"]] == [0, 0]
    (phase,) = fleet["phases"]
    assert fleet["complete"] and all(t["ranks"] == 2 for t in phase["trials"])
    ranks = [load(out / f"rank-{r}.json")["workloads"][0]["trials"] for r in (0, 1)]
    watts = [a["energy"]["average_w"] + b["energy"]["average_w"] for a, b in zip(*ranks, strict=True)]
    assert phase["average_w"] == pytest.approx(statistics.median(watts), rel=1e-12)
    # economics: the fleet's figures per device (sums over the 2 devices, divided by 2). A trial
    # that ran slower than the warm-up that set its share target (a machine busier then) may find
    # fewer shares than the protocol's least: its work is unproven, and econ says so and refuses
    from benchhash.econ.report import EconRequest, econ_json
    short = _short_trials(out / "rank-0.json", out / "rank-1.json")
    if short:
        with pytest.raises(InputError, match="fewer than the protocol"):
            econ_json(EconRequest(results=(str(out / "fleet.json"),)))
    econ = econ_json(EconRequest(results=(str(out / "fleet.json"),), allow_unverified=short))
    (mining,) = [u for u in econ["uses"] if u["use"] == "device_mining"]
    assert mining["basis"]["sha256d_hps"] == pytest.approx(phase["rate"] / 2)
    assert mining["basis"]["device_watts"] == pytest.approx(phase["average_w"] / 2)


def test_readme_pytorchjob_command_with_a_rank_failing_a_phase(tmp_path: Path, plugin: None) -> None:
    (yaml,) = readme_blocks("yaml")
    command = json.loads(re.search(r"^\s*command: (\[.*\])$", yaml, re.M).group(1))  # type: ignore[union-attr]
    assert json.loads(re.search(r"^\s*args: (\[.*\])$", yaml, re.M).group(1))[0] == "--out"  # type: ignore[union-attr]
    torch_bin = Path(torchrun()[0]).parent
    port = str(free_port())
    args = ["--out", str(tmp_path / "k8s"), "--device", "cpu", "--workloads", "faulty", "--duration", "0.5",
            "--trials", "3", "--warmup", "0"]
    pods = [subprocess.Popen(command + args, env=env(
        PATH=f"{torch_bin}{os.pathsep}{os.environ['PATH']}", WORLD_SIZE="2", RANK=str(pod),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=port, GPUS_PER_POD="1", BENCHHASH_WORKLOADS=FAULTY,
        FAULT="raise", FAULT_RANK="1", FAULT_TRIAL="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for pod in (0, 1)]
    outs = [p.communicate(timeout=300) for p in pods]
    assert [p.returncode for p in pods] == [1, 1], outs[0][1][-2000:] + outs[1][1][-2000:]   # a failure: exit 1
    out = tmp_path / "k8s"
    assert_verifies(out / "rank-0.json", out / "rank-1.json", out / "fleet.json")
    r0, r1 = (load(out / f"rank-{r}.json") for r in (0, 1))
    assert [(f["phase"], f["error"]) for f in r1["failures"]] == [("first", "RuntimeError")]
    assert [(f["phase"], f["error"]) for f in r0["failures"]] == [("first", "FleetMovedOn")]
    fleet = load(out / "fleet.json")
    first, second = fleet["phases"]
    assert [t["ranks"] for t in first["trials"]] == [2, 1]       # rank 0 finished the window rank 1 failed
    assert first["rate"] == pytest.approx(first["trials"][0]["rate"])   # only full trials count
    assert [t["ranks"] for t in second["trials"]] == [2, 2, 2]   # and the fleet went on together
    assert any("trial(s) 2 lack a rank" in n for n in fleet["notes"])


def rank_pid(parent: int, rank: int) -> int | None:
    """The pid of the worker with RANK=rank among the launcher's descendants."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"TORCHELASTIC_RUN_ID=" in b"\0".join(environ) \
                and int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            return int(proc.name)
    return None


def start(tmp_path: Path, args: list[str], **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(torchrun() + ["--standalone", "--nproc-per-node", "2", "-m", "benchhash", "run",
                                          *args], cwd=tmp_path, env=env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(proc: subprocess.Popen[str], text: str, lines: list[str], *more: str) -> None:
    """Read the output until `text` (and every one of `more`) has been seen, in any order."""
    assert proc.stdout is not None
    left = {text, *more}
    for line in proc.stdout:
        lines.append(line)
        left = {t for t in left if t not in line}
        if not left:
            return
    raise AssertionError(f"never saw {sorted(left)!r}:\n" + "".join(lines[-40:]))


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find a rank's pid")
def test_a_rank_killed_mid_run_leaves_files_that_verify(tmp_path: Path, cli: Any) -> None:
    out = tmp_path / "kill"
    proc = start(tmp_path, [*CPU_ONE, "--duration", "1", "--trials", "8", "--out", str(out)])
    lines: list[str] = []
    try:
        # both ranks have begun trial 3, so rank 0 holds two finished trials whatever the agent's
        # SIGTERM (sent once rank 1 dies) interrupts
        wait_for(proc, "[rank 1]: sha256d scan trial 3/8", lines, "[rank 0]: sha256d scan trial 3/8")
        pid = rank_pid(proc.pid, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + rest
    assert proc.returncode != 0
    survivor = load(out / "rank-0.json")
    assert not survivor["complete"] and len(survivor["workloads"][0]["trials"]) >= 2, log[-3000:]
    assert "SIGTERM" in survivor["stopped"] or "fleet" in survivor["stopped"]   # stopped, and said why
    killed = load(out / "rank-1.json")               # only the checkpoint it took before measuring
    assert killed["stopped"].startswith("checkpoint") and killed["workloads"] == []
    assert (out / "fleet.json").exists(), log[-5000:]
    assert_verifies(out / "rank-0.json", out / "rank-1.json", out / "fleet.json")
    fleet = load(out / "fleet.json")
    assert not fleet["complete"] and fleet["missing"] == [1] and fleet["phases"][0]["ranks"] == [0]
    merged = tmp_path / "merged.json"
    r = cli("merge", str(out / "rank-0.json"), "-o", str(merged))
    assert r.returncode == 0 and "incomplete" in r.stderr
    assert_verifies(merged)
    assert load(merged)["missing"] == [1] and not load(merged)["complete"]
    assert "claimed: an incomplete fleet: rank(s) 1 left no file" in cli("verify", str(merged)).stdout


def test_a_hung_rank_is_named_within_the_timeout(tmp_path: Path, plugin: None, cli: Any) -> None:
    out = tmp_path / "hang"
    proc = start(tmp_path, ["--device", "cpu", "--workloads", "faulty", "--duration", "0.5", "--trials", "3",
                            "--warmup", "0", "--fleet-timeout", "5", "--out", str(out)],
                 BENCHHASH_WORKLOADS=FAULTY, FAULT="hang", FAULT_RANK="1", FAULT_TRIAL="1")
    lines: list[str] = []
    try:
        wait_for(proc, "[rank 0]: faulty first trial 2/3", lines)
        wait_for(proc, "did not reach", lines)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + rest
    # named at the barrier after the trial it hung in, after --fleet-timeout (5 s), not the default 300 s
    assert "rank(s) 1 did not reach 'faulty first trial 3/3' within 5 s (dead or hung)" in log, log[-3000:]
    assert_verifies(out / "rank-0.json", out / "rank-1.json", out / "fleet.json")
    assert "SIGTERM" in load(out / "rank-1.json")["stopped"]      # torchrun stopped the hung rank: it wrote
    assert load(out / "fleet.json")["missing"] == [1]          # it was still hung when rank 0 wrote the fleet
    merged = tmp_path / "merged.json"
    assert cli("merge", str(out / "rank-0.json"), str(out / "rank-1.json"), "-o", str(merged)).returncode == 0
    assert_verifies(merged)
    assert not load(merged)["complete"] and load(merged)["missing"] == []


def test_all_gpus_launcher_starts_one_rank_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    """--all-gpus' launcher (torch's elastic launch) with two CPU ranks in place of GPUs; with
    --json only rank 0 prints, and what it prints is the fleet file."""
    from benchhash.fleet.launch import run_all
    for k, v in env().items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "all"
    args = ["run", *CPU_ONE, "--duration", "0.5", "--trials", "2", "--json", "--out", str(out)]
    assert run_all(args, nproc=2) == 0
    assert_verifies(out / "rank-0.json", out / "rank-1.json", out / "fleet.json")
    assert json.loads(capfd.readouterr().out) == load(out / "fleet.json")
    assert {load(out / f"rank-{r}.json")["fleet"]["launcher"] for r in (0, 1)} == {"benchhash"}


def test_all_gpus_without_gpus_is_one_line(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("benchhash.fleet.launch.gpu_count", lambda: 0)
    r = cli("run", "--all-gpus", "--quick")
    assert r.returncode == 2
    assert r.stderr.strip() == "benchhash: error: --all-gpus needs GPUs, and this machine shows none"
    r = cli("run", "--all-gpus", "--device", "cpu")
    assert r.returncode == 2 and "not with --device cpu" in r.stderr

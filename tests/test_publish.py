"""verify / compare / merge / report on real and doctored result files."""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchhash.results import io
from benchhash.results.fleet import FleetResult
from benchhash.results.model import SCHEMA_VERSION, Result
from benchhash.results.shares import PackedShares, pack, unpack
from benchhash.review.compare import compare, regressions, sentence
from benchhash.review.merge import merge
from benchhash.review.verify import verify_data, verify_file
from benchhash.stats import poisson_interval
from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"
GOLDEN_NULL = ROOT / "tests" / "data" / "golden" / "cpu-null.json"


def raw() -> dict[str, Any]:
    return io.read_json(GOLDEN)


def reseal(data: dict[str, Any]) -> dict[str, Any]:
    """What a forger who knows the digest rule would do after editing."""
    data["integrity"]["digest"] = io.digest_of(data)
    return data


def test_genuine_files_verify() -> None:
    assert verify_file(GOLDEN) == ("OK", [])
    assert verify_file(GOLDEN_NULL) == ("OK", [])


def test_poisson_interval_by_hand() -> None:
    lo, hi = poisson_interval(100)
    assert 69 < lo < 72 and 135 < hi < 138      # exact 99.9 % Garwood bounds for k = 100
    assert poisson_interval(0)[0] == 0.0


def test_edited_rate_fails_even_when_resealed() -> None:
    d = raw()
    d["workloads"][0]["trials"][0]["rate"] *= 1.2
    problems = verify_data(reseal(d), "x")
    assert any("is not work/seconds" in p for p in problems)


def test_edited_work_fails_on_the_nonce_ranges() -> None:
    d = raw()
    t = d["workloads"][0]["trials"][0]
    t["work"] *= 1.5
    t["rate"] = t["work"] / t["seconds"]
    assert any("nonce ranges cover" in p for p in verify_data(reseal(d), "x"))


def test_inflated_ranges_fail_the_share_count() -> None:
    d = raw()
    for t in d["workloads"][0]["trials"]:
        t["work"] *= 2
        t["rate"] = t["work"] / t["seconds"]
        for r in t["proof"]["ranges"]:
            r[2] *= 2
    w = d["workloads"][0]
    from benchhash.stats import summarize
    w["stats"]["rate"] = summarize([t["rate"] for t in w["trials"]]).to_json()
    problems = verify_data(reseal(d), "x")
    assert any("hashes claimed should give about" in p for p in problems), problems


def _repacked(d: dict[str, Any], edit: Any) -> dict[str, Any]:
    """Trial 0's shares unpacked, edited, packed again."""
    proof = d["workloads"][0]["trials"][0]["proof"]
    pairs = unpack(PackedShares.model_validate(proof["packed_shares"]))
    proof["packed_shares"] = pack(edit(pairs)).model_dump(mode="json")
    return d


def test_removed_share_breaks_the_digest() -> None:
    d = _repacked(raw(), lambda pairs: pairs[:-1])
    assert any("integrity digest mismatch" in p for p in verify_data(d, "x"))


def test_altered_share_fails_the_rehash() -> None:
    d = _repacked(raw(), lambda pairs: [(pairs[0][0], pairs[0][1] ^ 1), *pairs[1:]])
    assert any("hash does not meet the share target" in p for p in verify_data(reseal(d), "x"))
    d = io.read_json(ROOT / "tests" / "data" / "golden" / "v5" / "cpu-replay.json")    # v5 listed each hash
    d["workloads"][0]["trials"][0]["proof"]["shares"][0]["hash"] = "0" * 64
    assert any("re-hashed to" in p for p in verify_data(reseal(d), "x"))


def test_changed_environment_or_digest_fails_integrity() -> None:
    d = raw()
    d["environment"]["notes"] = "edited"
    assert verify_data(d, "x") == [next(p for p in verify_data(d, "x") if "integrity" in p)]
    d["environment"]["host"] = "somewhere-else"     # the shares and the phase are bound to the host too
    problems = verify_data(reseal(d), "x")
    assert len(problems) == 2 and "not derived from this file's run id, time, host" in problems[1]
    assert "sha256d scan: not bound to this run" in problems[0]
    d = raw()
    d["integrity"]["digest"] = "f" * 64
    assert any("integrity digest mismatch" in p for p in verify_data(d, "x"))


def test_verify_cli_reports_each_file_and_fails(tmp_path: Path, cli: Cli) -> None:
    bad = tmp_path / "bad.json"
    d = raw()
    d["environment"]["host"] = "edited"
    bad.write_text(json.dumps(d))
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**raw(), "schema_version": 9}))
    proc = cli("verify", str(GOLDEN), str(bad), str(newer))
    assert proc.returncode == 1
    assert f"OK   {GOLDEN}" in proc.stdout and f"FAIL {bad}" in proc.stdout
    assert "newer than this benchhash reads" in proc.stdout


def _median_rate(path: Path) -> float:
    rate = io.load(path)[0].workloads[0].stats.rate
    assert rate is not None
    return rate.median


def _with_rates(rates: list[float]) -> Any:
    d = raw()
    w = d["workloads"][0]
    template = w["trials"][0]
    w["trials"] = []
    for i, r in enumerate(rates):
        t = copy.deepcopy(template)
        t["index"], t["rate"], t["work"] = i, r, r * t["seconds"]
        w["trials"].append(t)
    return io.parse(d)


def test_compare_marks_a_20_percent_regression_and_ignores_identical_samples() -> None:
    base = [100.0, 101.0, 99.5, 100.5, 99.0]
    ref = _with_rates(base)
    slower = _with_rates([x * 0.8 for x in base])
    (row,) = compare(ref, slower)
    assert row.mark == "worse" and row.ratio == pytest.approx(0.8) and row.p_value is not None and row.p_value < 0.01
    assert regressions([row], 5.0) == [row] and regressions([row], 25.0) == []
    (same,) = compare(ref, _with_rates(base))
    assert same.mark == "not significant" and same.ratio == 1.0


def test_compare_refuses_apples_to_oranges() -> None:
    ref = _with_rates([1.0, 1.1, 0.9])
    d = raw()
    d["methodology_version"] = 2
    (row,) = compare(ref, io.parse(d))
    assert row.mark == "incomparable" and "methodology" in (row.reason or "")
    d = raw()
    d["workloads"][0]["params"]["threads"] = 64
    (row,) = compare(ref, io.parse(d))
    assert row.mark == "incomparable" and "parameters" in (row.reason or "")


def test_compare_a_kernel_change_is_compared_and_said() -> None:
    # the same work on another CPU kernel (or GPU launch shape) is what a before/after compares
    base = [100.0, 101.0, 99.5, 100.5, 99.0]
    ref = _with_rates(base)
    new = _with_rates([x * 1.9 for x in base])
    new.workloads[0].params["launch"] = {"kernel": "sha-ni", "lanes": 2}
    (row,) = compare(ref, new)
    assert row.mark == "better" and row.ratio == pytest.approx(1.9)
    assert row.note == "another launch: kernel simd -> sha-ni, lanes not recorded -> 2"
    assert "; another launch: kernel simd -> sha-ni, lanes not recorded -> 2 (REF" in sentence(row)
    (same,) = compare(new, new)
    assert same.note is None


def test_compare_cli_exit_code(tmp_path: Path, cli: Cli) -> None:
    base = [100.0, 101.0, 99.5, 100.5, 99.0]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    io.write(_with_rates(base), a)
    io.write(_with_rates([x * 0.8 for x in base]), b)
    refused = cli("compare", str(a), str(b))          # made-up rates: compare fails closed
    assert refused.returncode == 2 and "fails verify" in refused.stderr and not refused.stdout
    slow = cli("compare", str(a), str(b), "--allow-unverified")     # compared on their word, said so
    assert slow.returncode == 1 and "NEW is 20.0 % slower than REF, significant" in slow.stdout
    assert "regression" in slow.stderr and "busy" not in slow.stderr + slow.stdout
    assert "used on its word (--allow-unverified)" in slow.stderr and "UNVERIFIED: " in slow.stdout
    same = cli("compare", str(a), str(a), "--allow-unverified")
    assert same.returncode == 0 and "not significant" in same.stdout


def test_compare_says_the_difference_in_words() -> None:
    base = [100.0, 101.0, 99.5, 100.5, 99.0]
    ref = _with_rates(base)
    (faster,) = compare(ref, _with_rates([x * 1.041 for x in base]))
    text = sentence(faster)
    assert text.startswith("sha256d scan: NEW is 4.1 % faster than REF, significant (Welch p ")
    assert ", Mann-Whitney p = " in text and text.endswith("(REF 100 H/s, NEW 104 H/s)")
    (same,) = compare(ref, _with_rates([101.0, 99.0, 100.5, 99.5, 100.0]))
    assert sentence(same).startswith("sha256d scan: NEW is as fast as REF, not significant (Welch p = 1")
    assert "within the trials' noise" in sentence(same)
    (two,) = compare(_with_rates([100.0]), _with_rates([90.0]))
    assert sentence(two) == ("sha256d scan: NEW is 10.0 % slower than REF, not significant "
                             "(no test: too few trials to test) (REF 100 H/s, NEW 90.0 H/s)")
    other = _with_rates(base)
    other.workloads[0].params["threads"] = 64
    (row,) = compare(ref, other)
    threads = ref.workloads[0].params["threads"]
    assert row.reason == f"other parameters (threads {threads} -> 64)"
    assert sentence(row).startswith(f"sha256d scan: not compared, other parameters (threads {threads} -> 64)")
    assert not any("{" in sentence(r) for r in (faster, same, two, row))      # no Python dicts


def _on_a_busy_machine(result: Any, others: float) -> Any:
    from benchhash.results.model import Load
    w = result.workloads[0]
    result.workloads[0] = w.model_copy(update={"load": Load(cpus=2, others_cpu_share=others)})
    return result


def test_compare_says_when_a_side_ran_on_a_busy_machine(tmp_path: Path, cli: Cli) -> None:
    base = [100.0, 101.0, 99.5, 100.5, 99.0]
    ref = _with_rates(base)
    slower = _on_a_busy_machine(_with_rates([x * 0.5 for x in base]), 0.48)
    (row,) = compare(ref, slower)
    assert row.mark == "worse" and row.busy == (
        "NEW ran on a busy machine (other processes took 48 % of the CPUs' time during the trials)")
    assert ("NEW is 50.0 % slower than REF, significant (Welch p < 0.001, Mann-Whitney p = 0.0079), but NEW "
            "ran on a busy machine (other processes took 48 % of the CPUs' time during the trials): "
            "the difference may be the load's") in sentence(row)
    (both,) = compare(_on_a_busy_machine(_with_rates(base), 0.3), _on_a_busy_machine(_with_rates(base), 0.06))
    assert both.mark == "not significant" and sentence(both).endswith(
        "; REF and NEW ran on a busy machine (other processes took 30 % and 6 % of the CPUs' time during the "
        "trials) (REF 100 H/s, NEW 100 H/s)")
    (calm,) = compare(ref, _on_a_busy_machine(_with_rates(base), 0.01))      # under the 5 % threshold
    assert calm.busy is None
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    io.write(ref, a)
    io.write(slower, b)
    proc = cli("compare", str(a), str(b), "--allow-unverified")
    assert proc.returncode == 1 and "the difference may be the load's" in proc.stdout
    assert "sha256d scan measured on a busy machine: measure again on an idle one" in proc.stderr
    assert '"busy": "NEW ran on a busy machine' in cli("compare", str(a), str(b), "--json", "--allow-unverified").stdout


def test_merge_of_files_measured_apart_adds_their_medians_and_says_so(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "fleet.json"
    fleet = merge([str(GOLDEN), str(GOLDEN_NULL)], out)
    assert [r["file"] for r in fleet["ranks"]] == [os.path.relpath(p, tmp_path) for p in (GOLDEN, GOLDEN_NULL)]
    assert not fleet["lockstep"] and fleet["run_id"] is None and not fleet["complete"]
    (phase,) = fleet["phases"]
    assert phase["rate_method"] == "sum of per-rank medians" and phase["trials"] == []
    assert phase["average_w"] is None                       # one node had no energy reading
    rates = [_median_rate(p) for p in (GOLDEN, GOLDEN_NULL)]
    assert phase["rate"] == pytest.approx(sum(rates))
    assert any("not measured together" in n for n in fleet["notes"])
    proc = cli("merge", str(GOLDEN), str(GOLDEN_NULL), "-o", str(out))
    assert proc.returncode == 0 and verify_file(out) == ("OK", [])
    assert "benchhash fleet: 2 of 2 rank(s) (incomplete)" in proc.stdout and "sha256d scan" in proc.stdout
    twice = cli("merge", str(GOLDEN), str(GOLDEN), "-o", str(out))
    assert twice.returncode == 2 and "is the same file as" in twice.stderr
    copy = tmp_path / "copy.json"
    copy.write_bytes(GOLDEN.read_bytes())
    renamed = cli("merge", str(GOLDEN), str(copy), "-o", str(out))
    assert renamed.returncode == 2 and "a file counts once" in renamed.stderr


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.srcs.append(dict(attrs)["src"] or "")


def test_html_report_is_self_contained_with_charts(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "r.html"
    proc = cli("report", str(GOLDEN), str(GOLDEN_NULL), "--format", "html", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page = _Images()
    page.feed(out.read_text())
    assert "table" in page.tags and len(page.srcs) >= 3      # per joule, throughput, revenue per MW
    for src in page.srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http" not in out.read_text().replace("http-equiv", "")


def test_csv_and_markdown(cli: Cli) -> None:
    csv_out = cli("report", str(GOLDEN), "--format", "csv")
    header, row = csv_out.stdout.splitlines()[:2]
    assert header.startswith("file,workload,phase") and ",sha256d,scan," in row
    md = cli("report", str(GOLDEN), "--format", "md")
    assert md.stdout.startswith("| file | workload |") and "H/J" in md.stdout


@pytest.mark.parametrize("command", [["report"], ["compare", "X"], ["merge", "-o", "/tmp/f.json"]])
def test_malformed_or_newer_files_are_one_line_errors(tmp_path: Path, command: list[str], cli: Cli) -> None:
    for content in ("{not json", json.dumps({**raw(), "schema_version": SCHEMA_VERSION + 1})):
        f = tmp_path / "x.json"
        f.write_text(content)
        args = [command[0], str(f) if command[0] != "compare" else str(GOLDEN), *command[1:]]
        if command[0] == "compare":
            args[2] = str(f)
        proc = cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("benchhash: error:")


def test_html_charts_one_unit_each_and_one_bar_per_result() -> None:
    import matplotlib.pyplot as plt

    from benchhash.report import charts
    results: list[tuple[str, Result | FleetResult]] = [
        (str(GOLDEN), io.load(GOLDEN)[0]), (str(GOLDEN), io.load(GOLDEN)[0]),
        (str(GOLDEN_NULL), io.load(GOLDEN_NULL)[0])]
    rates = charts.per_unit([(label, rate, unit) for label, rate, unit, _, _ in charts.points(results)])
    assert list(rates) == ["H/s"]                           # one unit, one chart
    labels = charts.unique([a for a, _ in rates["H/s"]])
    assert len(labels) == len(set(labels)) == 3             # the same file twice: two bars
    assert labels[1].endswith("#2")
    titles = [t for t, _ in charts.figures(results, None)]
    plt.close("all")
    assert titles == ["Throughput in H/s (median of trials)", "Work per joule in H/J and J/TH (median of trials)"]


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (apt-get install chromium): the page is not rendered")
def test_html_report_renders_in_a_real_browser(tmp_path: Path, cli: Cli) -> None:
    page = tmp_path / "r.html"
    assert cli("report", str(GOLDEN), str(GOLDEN_NULL), "--format", "html", "--out", str(page)).returncode == 0
    shot = tmp_path / "shot.png"
    chrome = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,2400"]
    proc = subprocess.run([*chrome, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    assert not [line for line in proc.stderr.splitlines() if "CONSOLE" in line], proc.stderr[-2000:]
    dom = subprocess.run([*chrome, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="chart"') == 6
    for title in ("Throughput in H/s", "Work per joule in H/J", "Revenue and margin per facility MW-year",
                  "Price duration and mining", "Margin by month and use", "hours on by month",
                  "Market inputs: ", "Claim: ", "Each use of one facility MW"):
        assert title in dom
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)[..., :3]
    bar = np.array([0x3B, 0x6E, 0xA5]) / 255.0
    drawn = (np.abs(pixels - bar).max(axis=-1) < 0.02).sum()
    assert drawn > 5_000, f"only {drawn} pixels of bar colour: the charts did not render"

"""`benchhash econ --json` keeps its shape (issue 29, item 4): economics' answer is a typed value
now (econ/answer.py) that the printers read by attribute, and its JSON is written from it. Every
key, its place among its siblings and the JSON type of its value (an int and a float read apart,
so 3 does not become 3.0) are pinned against tests/data/econ_json_shape.txt, which was written by
this file's `shape` from the dict-built answer of main before the change (commit 28ee066), on the
default inputs and on published result files, with every section asked for."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from benchhash.econ.report import EconRequest, econ_json, inputs_json
from benchhash.econ.site import HourlyRequest

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "tests" / "data" / "econ_json_shape.txt"
TODAY = date(2026, 12, 4)
FILES = tuple(str(ROOT / "results" / f) for f in (
    "power-caps/sweep-20261123T111331Z.json",                     # a power-limit sweep (SHA-256d, gemm)
    "nvidia-h100-80gb-hbm3/vm-20261123T105855Z.json",             # llm prefill and decode
    "nvidia-h100-80gb-hbm3/fleet-vm-20261123T1046Z/fleet.json"))  # a fleet file with its rank file
#: objects whose keys are names from the data (market inputs, uses over the series, sites), not fields
BY_NAME = {"inputs", "uses", "sites"}


def cases() -> dict[str, dict[str, Any]]:
    """Each pinned answer: every section asked for, on the default inputs and on FILES (v3 files,
    priced on their word)."""
    every: dict[str, Any] = {"claim": True, "draws": 20, "deals": True, "decision": True, "today": TODAY}
    return {
        "default": econ_json(EconRequest(hourly=HourlyRequest(), **every)),
        "files": econ_json(EconRequest(results=FILES, allow_unverified=True, hourly=HourlyRequest(contract="ppa"),
                                       **every)),
        "inputs": inputs_json(EconRequest(sets=("btc_usd=90000",), today=TODAY)),
    }


def kind(x: Any) -> str:
    """The JSON type of a value as json.dumps writes it (an int and a float apart: 3 and 3.0)."""
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (dict, "object"),
                    (list, "array")):
        if isinstance(x, t):
            return name
    if x is None:
        return "null"
    raise TypeError(f"not a JSON value: {type(x).__name__}")


def shape(x: Any, path: str = "", out: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Each path ('.claim.gpu_cloud.tornado[].swing') in the order its key first appears, with the
    JSON types its values take; the elements of an array share a path, as do the members of an
    object keyed by name (BY_NAME: '.inputs.*')."""
    out = {} if out is None else out
    out.setdefault(path or ".", set()).add(kind(x))
    if isinstance(x, dict):
        named = path.rsplit(".", 1)[-1] in BY_NAME
        for k, v in x.items():
            shape(v, f"{path}.{'*' if named else k}", out)
    elif isinstance(x, list):
        for v in x:
            shape(v, f"{path}[]", out)
    return out


def lines(x: Any) -> list[str]:
    return [f"{p} {'|'.join(sorted(t))}" for p, t in shape(x).items()]


def expected() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in SHAPES.read_text().splitlines():
        if line.startswith("# "):
            out[line[2:]] = []
        elif line:
            out[list(out)[-1]].append(line)
    return out


@pytest.fixture(scope="module")
def answers() -> dict[str, dict[str, Any]]:
    return cases()


@pytest.mark.parametrize("case", ["default", "files", "inputs"])
def test_the_json_has_the_keys_order_and_types_it_had(answers: dict[str, dict[str, Any]], case: str) -> None:
    assert lines(answers[case]) == expected()[case]


def test_the_json_is_json(answers: dict[str, dict[str, Any]]) -> None:
    for data in answers.values():
        text = json.dumps(data, indent=1, allow_nan=False)
        assert json.loads(text) == data


def test_the_printers_read_the_typed_answer_and_write_the_same_json(answers: dict[str, dict[str, Any]]) -> None:
    from benchhash.econ.answer import Econ
    from benchhash.econ.report import answer, market_of
    from benchhash.report import econ as text
    every = EconRequest(claim=True, draws=20, deals=True, decision=True, today=TODAY, hourly=HourlyRequest())
    typed = answer(every)[0]
    assert isinstance(typed, Econ) and typed.claim is not None and typed.deals is not None
    assert json.loads(text.render(typed, "json")) == answers["default"]
    assert typed.claim.gpu_cloud.revenue.ratio == answers["default"]["claim"]["ratio"]
    view = market_of(EconRequest(sets=("btc_usd=90000",), today=TODAY))
    assert {k: {kk: vv for kk, vv in x.items() if kk != "allowed"}
            for k, x in json.loads(text.render(view, "json", inputs=True))["inputs"].items()} == \
        answers["inputs"]["inputs"]
    assert view.inputs["btc_usd"].replaced == 60_000 and view.snapshot.age_days == 161


if __name__ == "__main__":          # write the pinned shapes (from the code on the path: main's, once)
    sys.stdout.write("".join(f"# {name}\n" + "".join(f"{line}\n" for line in lines(x)) + "\n"
                             for name, x in cases().items()))

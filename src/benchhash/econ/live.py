"""`--market live`: difficulty, height, fee share and BTC price from a public Bitcoin API
(mempool.space's REST API by default) laid over the shipped snapshot, each figure sourced with
the endpoint and today's date. A timeout and a clear message when offline."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from benchhash.econ.market import Market, check, load, moved
from benchhash.errors import InputError

DEFAULT_URL = "https://mempool.space"
TIMEOUT_S = 10.0


def _get(base: str, path: str, timeout: float) -> Any:
    url = base.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read().decode()
    except urllib.error.HTTPError as exc:
        raise InputError(f"--market live: {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"--market live: cannot reach {base} ({reason}); offline? use the "
                         "shipped snapshot (omit --market) or a market file") from None
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise InputError(f"--market live: {url} did not return JSON") from None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(f"--market live: unexpected {what} in the API answer: {value!r}")
    return float(value)


def fetch(base: str = DEFAULT_URL, timeout: float = TIMEOUT_S) -> dict[str, tuple[float, str]]:
    """{input: (value, endpoint)} from the API."""
    if not base.startswith(("http://", "https://")):
        raise InputError(f"--market live: the API URL must be http(s), got {base!r}")
    hashrate = _get(base, "/api/v1/mining/hashrate/3d", timeout)
    prices = _get(base, "/api/v1/prices", timeout)
    height = _get(base, "/api/blocks/tip/height", timeout)
    rewards = _get(base, "/api/v1/mining/reward-stats/144", timeout)
    if not all(isinstance(x, dict) for x in (hashrate, prices, rewards)):
        raise InputError("--market live: unexpected answer shape from the API")
    total = _number(float(rewards.get("totalReward", 0) or 0), "totalReward")
    fees = float(rewards.get("totalFee", -1))
    if not 0 <= fees < total:
        raise InputError(f"--market live: unexpected totalFee {rewards.get('totalFee')!r}")
    return {
        "difficulty": (_number(hashrate.get("currentDifficulty"), "difficulty"), "/api/v1/mining/hashrate/3d"),
        "btc_usd": (_number(prices.get("USD"), "USD price"), "/api/v1/prices"),
        "block_height": (_number(height, "tip height"), "/api/blocks/tip/height"),
        "fee_share": (fees / total, "/api/v1/mining/reward-stats/144 (fees / rewards, last 144 blocks)"),
    }


def live_market(base: str = DEFAULT_URL, timeout: float = TIMEOUT_S) -> Market:
    m = load()
    today = datetime.now(UTC).date().isoformat()
    inputs = dict(m.inputs)
    for key, (value, endpoint) in fetch(base, timeout).items():
        old = inputs[key]
        lo, hi = moved(key, old, value)
        new = replace(old, value=value, source=f"{base.rstrip('/')}{endpoint}", date=today,
                      low=lo, high=hi, origin="live", replaced=old.value)
        check(key, new, "--market live")
        inputs[key] = new
    return replace(m, name=f"live ({base}) over {m.name}", inputs=inputs)

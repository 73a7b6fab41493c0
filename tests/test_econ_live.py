"""`--market live` against a local HTTP server on loopback that answers like mempool.space."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from benchhash.econ.live import live_market
from benchhash.errors import InputError
from conftest import Cli

ANSWERS = {
    "/api/v1/mining/hashrate/3d": {"currentHashrate": 1.0e21, "currentDifficulty": 150.0e12},
    "/api/v1/prices": {"time": 1763700000, "USD": 95000},
    "/api/blocks/tip/height": 925000,
    "/api/v1/mining/reward-stats/144": {"startBlock": 924856, "endBlock": 925000,
                                        "totalReward": 45_500_000_000, "totalFee": 500_000_000,
                                        "totalTx": 500000},
}


@pytest.fixture
def api() -> Iterator[str]:
    answers = dict(ANSWERS)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in answers:
                self.send_error(404)
                return
            body = json.dumps(answers[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_live_figures_replace_the_snapshot_with_sources(api: str) -> None:
    m = live_market(api, timeout=5)
    assert m["difficulty"] == 150.0e12 and m["btc_usd"] == 95000 and m["block_height"] == 925000
    assert m["fee_share"] == pytest.approx(500 / 45500)
    assert m.inputs["btc_usd"].source == f"{api}/api/v1/prices"
    assert m["pue_ai"] == 1.3          # the rest comes from the shipped snapshot


def test_econ_command_with_live_market(api: str, cli: Cli) -> None:
    proc = cli("econ", "--market", f"live:{api}", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["inputs"]["btc_usd"]["value"] == 95000 and data["market"].startswith("live")


def test_offline_is_a_clear_one_line_error(cli: Cli) -> None:
    proc = cli("econ", "--market", "live:http://127.0.0.1:9")   # nothing listens on port 9
    assert proc.returncode == 2
    assert "cannot reach" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_missing_endpoint_is_reported(api: str) -> None:
    with pytest.raises(InputError, match="HTTP 404"):
        live_market(api + "/nothing-here", timeout=5)

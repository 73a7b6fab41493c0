"""Hourly power price series: a two-column CSV (`hour_start_utc`, `price_usd_per_mwh`), a name
shipped in data/prices/, or ERCOT's own report layouts (hourly day-ahead: Delivery Date, Hour
Ending, Repeated Hour Flag, Settlement Point, Settlement Point Price; 15-minute real-time:
Delivery Date, Delivery Hour, Delivery Interval, ..., averaged to hours). ERCOT's hours are in
Central Prevailing Time: the repeated autumn hour is told apart by its flag, the skipped spring
hour is simply absent, and both come out as consecutive UTC hours. Months are calendar months in
Central time for ERCOT's layouts, and for any series whose first hour starts at midnight Central
(as ERCOT's days do, whatever the file's name); else in UTC.

A bad series is refused with the line and the problem: an unparseable time or number, a NaN, a
duplicated hour or hours out of order. An hour with no price (absent, or an empty cell; of the
15-minute layout, an hour with an empty interval) is a gap: without --fill the series is refused
with the number of gaps, the hours missing and the first gap; with --fill each gap is filled and
listed with its length (empty cells before the first price or after the last are dropped)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import numpy as np

from benchhash.errors import InputError

DEFAULT = "ercot-hb_west-2023-da"
FILLS = ("previous", "linear")
CENTRAL = ZoneInfo("America/Chicago")
LABELS = {
    "ercot-hb_west-2023-da": "ERCOT HB_WEST day-ahead 2023",
    "ercot-lz_west-2023-rt-interval1": "ERCOT LZ_WEST real-time 2023, first 15-min interval of each hour (a proxy)",
}
TWO_COLUMNS = ("hourstartutc", "priceusdpermwh")
DAM = ("deliverydate", "hourending", "settlementpointprice")
RTM = ("deliverydate", "deliveryhour", "deliveryinterval", "settlementpointprice")
FLAGS = ("repeatedhourflag", "dstflag")              # the annual reports' name, the daily ones'


@dataclass(frozen=True)
class Gap:
    """Hours with no price: ``hours`` of them from ``start`` (hours since 1970), found at ``line``."""

    start: int
    hours: int
    line: int
    empty: bool                         # an empty cell (else hours absent from the file)

    def where(self) -> str:
        if self.empty:
            return f"line {self.line}: gap of {self.hours} hour(s) from {_iso(self.start)} (empty price)"
        return f"line {self.line}: gap of {self.hours} hour(s) before {_iso(self.start + self.hours)}"

    @property
    def from_utc(self) -> str:
        return _iso(self.start)

    def to_json(self) -> dict[str, object]:
        return {"from_utc": self.from_utc, "hours": self.hours, "line": self.line, "empty_cells": self.empty}


@dataclass(frozen=True)
class SeriesSummary:
    """A price series as the hourly analysis echoes it: its name, label and source, its hours
    (first and last, UTC), the gaps --fill filled, the zone its months are counted in and why, and
    its prices' mean, median, p95, max and min (USD/MWh) and hours below zero."""

    name: str
    label: str
    source: str
    hours: int
    first_hour_utc: str
    last_hour_utc: str
    filled_hours: int
    fill: str | None
    months_in: str
    months_in_why: str
    gaps_filled: list[Gap]
    mean_usd_per_mwh: float
    median_usd_per_mwh: float
    p95_usd_per_mwh: float
    max_usd_per_mwh: float
    min_usd_per_mwh: float
    hours_below_zero: int


@dataclass(frozen=True)
class PriceSeries:
    """One price per hour, hours consecutive; `hours` are hours since 1970-01-01T00:00Z."""

    name: str
    label: str
    source: str
    hours: np.ndarray
    usd_per_mwh: np.ndarray
    filled_hours: int = 0
    fill: str | None = None
    zone: str = "UTC"                  # the time zone whose calendar months group the hours
    gaps: tuple[Gap, ...] = ()         # the gaps --fill filled
    zone_why: str = ""

    @cached_property
    def months(self) -> np.ndarray:
        """Each hour's calendar month ('YYYY-MM') in the series' zone (Central time for ERCOT)."""
        if self.zone == "UTC":
            return self.hours.astype("datetime64[h]").astype("datetime64[M]").astype(str)
        z = ZoneInfo(self.zone)
        return np.array([datetime.fromtimestamp(int(h) * 3600, z).strftime("%Y-%m") for h in self.hours])

    def summary(self) -> SeriesSummary:
        p = self.usd_per_mwh
        return SeriesSummary(self.name, self.label, self.source, len(p), _iso(int(self.hours[0])),
                             _iso(int(self.hours[-1])), self.filled_hours, self.fill, self.zone, self.zone_why,
                             list(self.gaps), float(p.mean()), float(np.median(p)), float(np.percentile(p, 95)),
                             float(p.max()), float(p.min()), int((p < 0).sum()))


def _iso(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:00Z")


def shipped() -> list[str]:
    folder = resources.files("benchhash.data").joinpath("prices")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csv"))


def load(spec: str | None = None, fill: str | None = None, point: str | None = None) -> PriceSeries:
    """The series named or found at `spec` (default: the shipped ERCOT HB_WEST 2023 day-ahead)."""
    if fill is not None and fill not in FILLS:
        raise InputError(f"--fill must be one of {', '.join(FILLS)}, got {fill!r}")
    spec = spec or DEFAULT
    if spec in shipped():
        path = Path(str(resources.files("benchhash.data").joinpath("prices", spec + ".csv")))
        name, label, source = spec, LABELS.get(spec, spec), f"shipped: data/prices/{spec}.csv (provenance: README.md)"
    elif Path(spec).is_file():
        path = Path(spec)
        name, label, source = path.stem, path.name, str(path)
    else:
        raise InputError(f"price series {spec!r}: no such file or shipped series ({', '.join(shipped())})")
    rows, ercot = _rows(path, point)
    if not rows:
        raise InputError(f"{path}: no prices in the file")
    hours, prices, gaps = _consecutive(path, rows, fill)
    zone, why = _zone(ercot, int(hours[0]))
    filled = sum(g.hours for g in gaps)
    return PriceSeries(name, label, source, hours, prices, filled, fill if filled else None, zone, tuple(gaps), why)


def _zone(ercot: bool, first_hour: int) -> tuple[str, str]:
    """The zone whose calendar months group the hours, and why: Central for ERCOT's own layouts
    and for a series whose first hour is midnight Central (ERCOT's day, in any file); else UTC."""
    if ercot:
        return "America/Chicago", "ERCOT's report layout (Central Prevailing Time)"
    if datetime.fromtimestamp(first_hour * 3600, CENTRAL).hour == 0:
        return "America/Chicago", "the series starts at midnight Central time, as ERCOT's days do"
    return "UTC", "the series does not start at midnight Central time"


def _rows(path: Path, point: str | None) -> tuple[list[tuple[int, int, float | None]], bool]:
    """(line, hour since epoch, price) from any of the layouts, in file order; and whether the
    layout is ERCOT's own."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            raw = next(reader, [])
            header = [_key(h) for h in raw]
            lines = [(n, row) for n, row in enumerate(reader, start=2) if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the price series ({exc})") from None
    if all(c in header for c in TWO_COLUMNS):
        return list(_two_columns(path, header, lines)), False
    if all(c in header for c in RTM):
        return list(_ercot(path, header, _only_point(path, header, lines, point), "deliveryhour")), True
    if all(c in header for c in DAM):
        return list(_ercot(path, header, _only_point(path, header, lines, point), "hourending")), True
    raise InputError(f"{path}, line 1: header {','.join(raw)[:80]!r} is none of the layouts "
                     "(hour_start_utc,price_usd_per_mwh; or ERCOT's hourly day-ahead or 15-minute real-time report)")


def _key(header: str) -> str:
    """A column name as compared: case, spaces and underscores ignored (ERCOT's annual reports
    say 'Delivery Date', its daily ones 'DeliveryDate')."""
    return "".join(header.lower().split()).replace("_", "")


def _cell(path: Path, n: int, row: list[str], i: int) -> str:
    if i >= len(row):
        raise InputError(f"{path}, line {n}: too few columns")
    return row[i].strip()


def _price(path: Path, n: int, text: str) -> float | None:
    """The price in a cell; None for an empty cell (a gap)."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}, line {n}: price {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}, line {n}: price {text!r} is not a finite number")
    return value


def _two_columns(path: Path, header: list[str],
                 lines: list[tuple[int, list[str]]]) -> Iterator[tuple[int, int, float | None]]:
    it, ip = header.index(TWO_COLUMNS[0]), header.index(TWO_COLUMNS[1])
    for n, row in lines:
        yield n, _utc_hour(path, n, _cell(path, n, row, it)), _price(path, n, _cell(path, n, row, ip))


def _utc_hour(path: Path, n: int, text: str) -> int:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{path}, line {n}: time {text!r} is not an ISO 8601 time") from None
    _check_year(path, n, t.year)
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    if t.minute or t.second or t.microsecond:
        raise InputError(f"{path}, line {n}: time {text!r} is not the start of an hour")
    return int(t.timestamp()) // 3600


def _only_point(path: Path, header: list[str], lines: list[tuple[int, list[str]]],
                point: str | None) -> list[tuple[int, list[str]]]:
    """The rows of one settlement point: the one asked for, or the only one in the file."""
    col = next((header.index(c) for c in ("settlementpoint", "settlementpointname") if c in header), None)
    if col is None:
        return lines
    points = sorted({_cell(path, n, row, col) for n, row in lines})
    if point is None and len(points) > 1:
        raise InputError(f"{path}: {len(points)} settlement points ({', '.join(points[:6])}"
                         f"{', ...' if len(points) > 6 else ''}); choose one with --settlement-point")
    chosen = point or points[0]
    if chosen not in points:
        raise InputError(f"{path}: no settlement point {chosen!r} (has {', '.join(points[:6])})")
    return [(n, row) for n, row in lines if _cell(path, n, row, col) == chosen]


def _ercot(path: Path, header: list[str], lines: list[tuple[int, list[str]]],
           hour_col: str) -> Iterator[tuple[int, int, float | None]]:
    """ERCOT's layouts: hour ending 1-24 in Central Prevailing Time; 15-minute intervals averaged."""
    idx = {c: header.index(c) for c in ("deliverydate", hour_col, "settlementpointprice")}
    flag = next((header.index(c) for c in FLAGS if c in header), None)
    interval = header.index("deliveryinterval") if "deliveryinterval" in header else None
    quarters: dict[int, list[tuple[int, float | None, int]]] = {}        # hour -> its 15-minute prices
    for n, row in lines:
        repeated = flag is not None and _cell(path, n, row, flag).upper() == "Y"
        hour = _central_hour(path, n, _cell(path, n, row, idx["deliverydate"]),
                             _cell(path, n, row, idx[hour_col]), repeated)
        price = _price(path, n, _cell(path, n, row, idx["settlementpointprice"]))
        if interval is None:
            yield n, hour, price
        else:
            quarters.setdefault(hour, []).append((n, price, _interval(path, n, _cell(path, n, row, interval))))
    for hour, items in quarters.items():
        yield items[0][0], hour, _hour_mean(path, items)


def _interval(path: Path, n: int, text: str) -> int:
    if text not in ("1", "2", "3", "4"):
        raise InputError(f"{path}, line {n}: delivery interval {text!r} is not 1-4")
    return int(text)


def _hour_mean(path: Path, items: list[tuple[int, float | None, int]]) -> float | None:
    """The mean of an hour's four 15-minute prices; None (a gap) when one of them is empty."""
    slots = [s for _, _, s in items]
    if len(set(slots)) != len(slots):
        raise InputError(f"{path}, line {items[-1][0]}: interval repeated within its hour")
    if len(slots) != 4:
        raise InputError(f"{path}, line {items[0][0]}: the hour has {len(slots)} of 4 intervals")
    quarters = [p for _, p, _ in items]
    return None if any(p is None for p in quarters) else sum(p for p in quarters if p is not None) / 4


def _central_hour(path: Path, n: int, day_text: str, hour_text: str, repeated: bool) -> int:
    """Hour ending h (1-24, 'hh:00' or 'h') of a Central-time date as the UTC hour it starts."""
    day = _date(path, n, day_text)
    _check_year(path, n, day.year)
    try:
        h = int(hour_text.split(":")[0])
    except ValueError:
        h = -1
    if not 1 <= h <= 24 or (":" in hour_text and hour_text.split(":")[1] not in ("00", "")):
        raise InputError(f"{path}, line {n}: hour ending {hour_text!r} is not 1-24")
    local = datetime(day.year, day.month, day.day) + timedelta(hours=h - 1)
    aware = local.replace(tzinfo=CENTRAL, fold=1 if repeated else 0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(CENTRAL).replace(tzinfo=None) != local:
        raise InputError(f"{path}, line {n}: hour ending {hour_text} does not exist on {day} (clocks spring forward)")
    if repeated and aware.utcoffset() == local.replace(tzinfo=CENTRAL, fold=0).utcoffset():
        raise InputError(f"{path}, line {n}: hour ending {hour_text} on {day} is flagged repeated but is not")
    return int(utc.timestamp()) // 3600


#: Years a price series may hold: electricity markets with hourly prices began in the 1990s, and a
#: time zone's arithmetic near year 1 or 9999 leaves the calendar.
YEARS = (1990, 2200)


def _check_year(path: Path, n: int, year: int) -> None:
    if not YEARS[0] <= year <= YEARS[1]:
        raise InputError(f"{path}, line {n}: the year {year} is outside {YEARS[0]}-{YEARS[1]}")


def _date(path: Path, n: int, text: str) -> date:
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InputError(f"{path}, line {n}: delivery date {text!r} is not MM/DD/YYYY or YYYY-MM-DD")


def _consecutive(path: Path, rows: Iterable[tuple[int, int, float | None]],
                 fill: str | None) -> tuple[np.ndarray, np.ndarray, list[Gap]]:
    """Hours and prices, checked to be strictly consecutive; an hour with no price (absent or an
    empty cell) is a gap, refused with their count and the first, or filled by the policy."""
    hours: list[int] = []
    prices: list[float | None] = []
    line_of: dict[int, int] = {}
    for n, hour, price in rows:
        if hour in line_of:
            raise InputError(f"{path}, line {n}: hour {_iso(hour)} repeats line {line_of[hour]}")
        if hours and hour < hours[-1]:
            raise InputError(f"{path}, line {n}: hour {_iso(hour)} comes after {_iso(hours[-1])} (out of order)")
        if hours and hour > hours[-1] + 1:
            missing = range(hours[-1] + 1, hour)
            hours += missing
            prices += [None] * len(missing)
            line_of.update(dict.fromkeys(missing, -n))          # absent: found at the next row's line
        line_of[hour] = n
        hours.append(hour)
        prices.append(price)
    while prices and prices[-1] is None:                          # empty cells at the ends are not gaps
        hours.pop(), prices.pop()
    first = next((i for i, p in enumerate(prices) if p is not None), len(prices))
    hours, prices = hours[first:], prices[first:]
    if not prices:
        raise InputError(f"{path}: no prices in the file")
    gaps = _gaps(hours, prices, line_of)
    if gaps and fill is None:
        total = sum(g.hours for g in gaps)
        raise InputError(f"{path}: {len(gaps)} gap(s), {total} hour(s) with no price (empty cells count as missing); "
                         f"the first at {gaps[0].where()}; give --fill previous or --fill linear to fill them")
    for g in gaps:
        i = hours.index(g.start)
        prices[i:i + g.hours] = _filled(cast(float, prices[i - 1]), cast(float, prices[i + g.hours]), g.hours,
                                        cast(str, fill))
    return np.array(hours, dtype=np.int64), np.array(prices, dtype=float), gaps


def _gaps(hours: list[int], prices: list[float | None], line_of: dict[int, int]) -> list[Gap]:
    """The runs of hours with no price (none at either end)."""
    out: list[Gap] = []
    i = 0
    while i < len(prices):
        if prices[i] is not None:
            i += 1
            continue
        j = i
        while prices[j] is None:
            j += 1
        line = line_of[hours[i]]
        out.append(Gap(hours[i], j - i, abs(line), empty=line > 0))
        i = j
    return out


def _filled(before: float, after: float, missing: int, fill: str) -> list[float | None]:
    if fill == "previous":
        return [before] * missing
    return [before + (after - before) * (i + 1) / (missing + 1) for i in range(missing)]

"""One self-contained HTML report of a plan or a what-if run, drawn with plotly.

The file needs no network: plotly.js is embedded once, and the map's state and country
outlines come from TopoJSON shipped with the package (`data/geo/`, see its README), projected
here (Albers equal-area conic) and drawn as ordinary filled polygons, so plotly never fetches
map geometry. The report shows:

- a map of the lower 48 states and Mexico with the sites (opened, existing, closed, not
  opened; tier), the customers, the supplier countries (those outside the map stand at its
  Pacific or Atlantic edge) and the main flows, line width by volume;
- cost by category and scenario; tariff spend by origin country and scenario; site
  utilisation by period; unmet demand by period and scenario;
- for a what-if run: the comparison table, the change of objective per variant, and the
  cost-risk frontier when the folder holds one (`frontier.json` or `analysis.json`).

A plan folder is what `Plan.write` writes, plus the instance as `input.json` (written by
`reshore solve --report` and `reshore whatif`); a what-if folder holds `comparison.csv`, the
base plan in `base/` and `input.json`.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reshore.optimizer.io import load_network
from reshore.optimizer.results import TABLE_COLUMNS
from reshore.optimizer.schema import InvalidNetwork, Network

INPUT_FILE = "input.json"
REPORT_FILE = "report.html"
MAIN_FLOWS = 40
"""Flows drawn on the map: the largest inbound and outbound flows, this many of each."""
LOWER_48_EXCLUDED = {"02", "15", "60", "66", "69", "72", "78"}
"""FIPS codes of the states and territories outside the map (Alaska, Hawaii, islands)."""
NEIGHBOURS = {"124": "Canada", "484": "Mexico"}
"""Countries drawn around the US (ISO numeric codes of world-atlas)."""
VIEW = {"lon": (-127.0, -66.0), "lat": (17.0, 50.0)}
"""Longitudes and latitudes of the map's frame."""
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


class ReportError(ValueError):
    """A folder that holds no plan or what-if run, or no instance to draw the map from."""


# --- geometry -----------------------------------------------------------------------------------


def _topology(name: str) -> dict[str, Any]:
    text = (files("reshore.data") / "geo" / name).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """Decode TopoJSON's quantised, delta-encoded arcs to lon/lat arrays."""
    scale = np.array(topology["transform"]["scale"])
    translate = np.array(topology["transform"]["translate"])
    return [np.cumsum(np.array(arc, dtype=float), axis=0) * scale + translate
            for arc in topology["arcs"]]


def _ring(arcs: list[np.ndarray], indices: Iterable[int]) -> np.ndarray:
    parts: list[np.ndarray] = []
    for i in indices:
        points = arcs[i] if i >= 0 else arcs[~i][::-1]
        parts.append(points if not parts else points[1:])
    return np.vstack(parts)


def _polygons(topology: dict[str, Any], layer: str, keep: Any) -> list[np.ndarray]:
    """Outer and inner rings of every geometry of `layer` for which keep(geometry) holds."""
    arcs = _arcs(topology)
    rings: list[np.ndarray] = []
    for geometry in topology["objects"][layer]["geometries"]:
        if not keep(geometry):
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else (
            [geometry["arcs"]] if geometry["type"] == "Polygon" else [])
        for polygon in polygons:
            rings += [_ring(arcs, ring) for ring in polygon]
    return rings


@dataclass(frozen=True)
class Albers:
    """Albers equal-area conic projection (US standard parallels 29.5 and 45.5 degrees)."""

    lat1: float = 29.5
    lat2: float = 45.5
    lat0: float = 23.0
    lon0: float = -96.0

    def __call__(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi1, phi2, phi0 = np.radians([self.lat1, self.lat2, self.lat0])
        n = (np.sin(phi1) + np.sin(phi2)) / 2
        c = np.cos(phi1) ** 2 + 2 * n * np.sin(phi1)
        rho0 = np.sqrt(c - 2 * n * np.sin(phi0)) / n
        phi, lam = np.radians(lat), np.radians(np.asarray(lon) - self.lon0)
        rho = np.sqrt(c - 2 * n * np.sin(phi)) / n
        return rho * np.sin(n * lam), rho0 - rho * np.cos(n * lam)


PROJECT = Albers()


def _outline_xy(rings: Sequence[np.ndarray]) -> tuple[list[float | None], list[float | None]]:
    """Rings as one x/y sequence separated by gaps (each ring a closed polygon)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ring in rings:
        x, y = PROJECT(ring[:, 0], ring[:, 1])
        xs += [*x.tolist(), None]
        ys += [*y.tolist(), None]
    return xs, ys


def state_outlines() -> list[np.ndarray]:
    """Rings of the lower 48 states and DC."""
    return _polygons(_topology("us_states_10m.json"), "states",
                     lambda g: str(g.get("id")) not in LOWER_48_EXCLUDED)


def neighbour_outlines() -> list[np.ndarray]:
    """Rings of Mexico and Canada (their parts inside the frame matter)."""
    return _polygons(_topology("world_countries_110m.json"), "countries",
                     lambda g: str(g.get("id")) in NEIGHBOURS)


# --- reading a folder ---------------------------------------------------------------------------


@dataclass
class PlanTables:
    """A written plan: its summary, its tables and the scenario probabilities."""

    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    probabilities: dict[str, float]


def read_plan(folder: Path, network: Network) -> PlanTables:
    """A plan folder written by `Plan.write`."""
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise ReportError(f"{folder}: no summary.json; give a plan or what-if folder")
    tables = {}
    for name, columns in TABLE_COLUMNS.items():
        path = folder / f"{name}.csv"
        frame = pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame(
            columns=columns)
        tables[name] = frame
    return PlanTables(json.loads(summary_path.read_text()), tables,
                      {s.scenario: s.probability for s in network.scenarios})


def find_network(folder: Path, given: str | Path | None = None) -> Network:
    """The instance of a plan or what-if folder: `given`, else the folder's input.json."""
    source = Path(given) if given is not None else folder / INPUT_FILE
    if given is None and not source.exists():
        raise ReportError(f"{folder}: no {INPUT_FILE}; give the instance with --input")
    try:
        return load_network(source)
    except InvalidNetwork as error:
        raise ReportError(f"{source}: {error}") from error


# --- figures ------------------------------------------------------------------------------------

SITE_STYLE = {"open": ("square", "#1a7f37", "opened"),
              "existing": ("diamond", "#0b5cad", "existing, kept"),
              "closed": ("x", "#b42318", "closed"),
              "not opened": ("circle-open", "#7a7a7a", "candidate, not opened")}


def _in_view(lon: float | None, lat: float | None) -> bool:
    return (lon is not None and lat is not None and VIEW["lon"][0] <= lon <= VIEW["lon"][1]
            and VIEW["lat"][0] <= lat <= VIEW["lat"][1])


def supplier_positions(network: Network) -> dict[str, tuple[float, float, str]]:
    """(lon, lat, label) of each supplier: its own place inside the frame; suppliers of
    countries outside it stand together at the Pacific (east longitudes) or Atlantic edge,
    one point per country."""
    outside = sorted({s.country for s in network.suppliers if not _in_view(s.lon, s.lat)})
    pacific = [c for c in outside if c not in ("GB", "DE", "FR", "IE", "NL", "IT", "ES")]
    atlantic = [c for c in outside if c not in pacific]
    anchor = {c: (VIEW["lon"][0] + 1.5, 46.0 - 4.0 * i) for i, c in enumerate(pacific)}
    anchor |= {c: (VIEW["lon"][1] - 1.5, 40.0 - 4.0 * i) for i, c in enumerate(atlantic)}
    positions = {}
    for s in network.suppliers:
        if _in_view(s.lon, s.lat):
            positions[s.supplier] = (float(s.lon or 0), float(s.lat or 0), s.country)
        else:
            lon, lat = anchor[s.country]
            positions[s.supplier] = (lon, lat, f"{s.country} (overseas)")
    return positions


def _expected(frame: pd.DataFrame, column: str, probabilities: dict[str, float]) -> pd.Series:
    return frame[column] * frame.scenario.map(probabilities).fillna(0.0)


def _width(value: float, largest: float) -> float:
    return 1.0 + 9.0 * math.sqrt(value / largest) if largest > 0 else 1.0


def frame_extent() -> tuple[list[float], list[float]]:
    """x and y ranges of the projected frame (its edges are curves: sample them)."""
    lons = np.linspace(*VIEW["lon"], 50)
    lats = np.linspace(*VIEW["lat"], 50)
    west, east = np.full(50, VIEW["lon"][0]), np.full(50, VIEW["lon"][1])
    south, north = np.full(50, VIEW["lat"][0]), np.full(50, VIEW["lat"][1])
    edge_lon = np.concatenate([lons, lons, west, east])
    edge_lat = np.concatenate([south, north, lats, lats])
    x, y = PROJECT(edge_lon, edge_lat)
    return [float(x.min()), float(x.max())], [float(y.min()), float(y.max())]


def _largest(frame: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """The MAIN_FLOWS largest totals of `column` by `keys`."""
    totals = frame.groupby(keys)[column].sum().reset_index()
    return totals.sort_values(column, ascending=False).head(MAIN_FLOWS)


def _site_text(site: str, name: str, label: str, row: Mapping[Any, Any]) -> str:
    text = f"{site} ({name}): {label}"
    if isinstance(row.get("tier"), str):
        text += f", tier {row['tier']}"
    if row.get("status") == "open":
        text += f", from {row['open_period']}"
    return text


def map_figure(network: Network, plan: PlanTables) -> go.Figure:
    """Outlines, sites, customers, supplier countries and the main flows."""
    fig = go.Figure()
    xs, ys = _outline_xy(neighbour_outlines())
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor="#f1f1ee",
                             line={"color": "#b8b8b8", "width": 0.6}, hoverinfo="skip",
                             name="Mexico, Canada", showlegend=False))
    xs, ys = _outline_xy(state_outlines())
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor="#e4ebf2",
                             line={"color": "#8a9bb0", "width": 0.6}, hoverinfo="skip",
                             name="US states", showlegend=False))
    places = {s.site: (s.lon, s.lat) for s in network.sites}
    places |= {c.customer: (c.lon, c.lat) for c in network.customers}
    suppliers = supplier_positions(network)
    p = plan.probabilities

    def line(a: tuple[Any, Any], b: tuple[Any, Any], width: float, color: str,
             text: str) -> None:
        if None in (*a, *b):
            return
        x, y = PROJECT(np.array([a[0], b[0]], float), np.array([a[1], b[1]], float))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"width": width, "color": color},
                                 opacity=0.55, hoverinfo="text", text=[text, text],
                                 showlegend=False))

    sourcing = plan.tables["sourcing"]
    if not sourcing.empty:
        inbound = _largest(sourcing.assign(value=_expected(sourcing, "purchase_cost", p)),
                           ["supplier", "site"], "value")
        flows = inbound.to_dict("records")
        largest = max(float(flow["value"]) for flow in flows)
        for flow in flows:
            lon, lat, label = suppliers[str(flow["supplier"])]
            line((lon, lat), places[str(flow["site"])], _width(float(flow["value"]), largest),
                 "#c2410c", f"{flow['supplier']} ({label}) -> {flow['site']}:"
                 f" expected purchases ${float(flow['value']):,.0f}")
    shipments = plan.tables["shipments"]
    if not shipments.empty:
        outbound = _largest(shipments.assign(units=_expected(shipments, "quantity", p)),
                            ["site", "customer"], "units")
        flows = outbound.to_dict("records")
        largest = max(float(flow["units"]) for flow in flows)
        for flow in flows:
            line(places[str(flow["site"])], places[str(flow["customer"])],
                 _width(float(flow["units"]), largest), "#2563eb",
                 f"{flow['site']} -> {flow['customer']}: expected"
                 f" {float(flow['units']):,.0f} units")

    sites = plan.tables["sites"].set_index("site")
    for status, (symbol, color, label) in SITE_STYLE.items():
        chosen = [s for s in network.sites if s.site in sites.index
                  and sites.loc[s.site, "status"] == status and s.lon is not None]
        if not chosen:
            continue
        x, y = PROJECT(np.array([s.lon for s in chosen], float),
                       np.array([s.lat for s in chosen], float))
        text = [_site_text(s.site, s.name or s.country, label, sites.loc[s.site].to_dict())
                for s in chosen]
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers+text", name=f"site: {label}",
                                 marker={"symbol": symbol, "size": 14, "color": color,
                                         "line": {"width": 1.5, "color": color}},
                                 text=[s.site for s in chosen], textposition="top center",
                                 hovertext=text, hoverinfo="text",
                                 textfont={"size": 10}))
    customers = [c for c in network.customers if c.lon is not None]
    if customers:
        x, y = PROJECT(np.array([c.lon for c in customers], float),
                       np.array([c.lat for c in customers], float))
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="customer",
                                 marker={"symbol": "triangle-up", "size": 11,
                                         "color": "#7c3aed"},
                                 hovertext=[f"{c.customer}: {c.name}" for c in customers],
                                 hoverinfo="text"))
    by_place: dict[tuple[float, float], str] = {}
    for lon, lat, label in suppliers.values():
        by_place[lon, lat] = label
    if by_place:
        lons, lats = zip(*by_place, strict=True)
        x, y = PROJECT(np.array(lons, float), np.array(lats, float))
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers+text", name="supplier country",
                                 marker={"symbol": "circle", "size": 10, "color": "#c2410c"},
                                 text=list(by_place.values()), textposition="middle right",
                                 textfont={"size": 10}, hoverinfo="text"))
    x_range, y_range = frame_extent()
    fig.update_xaxes(visible=False, range=x_range)
    fig.update_yaxes(visible=False, scaleanchor="x", range=y_range)
    fig.update_layout(title="Network: sites, customers, supplier countries and main flows"
                      " (orange: purchases by value, blue: shipments by units)",
                      height=620, plot_bgcolor="#ffffff", margin={"l": 10, "r": 10, "t": 50,
                                                                  "b": 10},
                      legend={"orientation": "h", "y": -0.02})
    return fig


def cost_figure(plan: PlanTables) -> go.Figure:
    """Present value of cost by category, one bar per scenario."""
    costs = plan.tables["costs"]
    fig = go.Figure()
    for category, group in costs.groupby("category"):
        if float(group.amount.abs().sum()) > 0:
            fig.add_trace(go.Bar(x=group.scenario, y=group.amount, name=str(category)))
    fig.update_layout(barmode="stack", title="Cost by category and scenario (present value)",
                      yaxis_title="US$", height=420)
    return fig


def tariff_figure(plan: PlanTables) -> go.Figure:
    """Nominal tariff paid by origin country, one bar per scenario."""
    parts = [plan.tables[name][["scenario", "origin_country", "tariff_cost"]]
             for name in ("sourcing", "shipments")
             if not plan.tables[name].empty and "origin_country" in plan.tables[name]]
    fig = go.Figure()
    if parts:
        spend = pd.concat(parts).groupby(["origin_country", "scenario"],
                                         as_index=False).tariff_cost.sum()
        for country, group in spend.groupby("origin_country"):
            fig.add_trace(go.Bar(x=group.scenario, y=group.tariff_cost, name=str(country)))
    fig.update_layout(barmode="stack", title="Tariff spend by origin country and scenario"
                      " (nominal)", yaxis_title="US$", height=420)
    return fig


def utilisation_figure(plan: PlanTables, periods: Sequence[str]) -> go.Figure:
    """Expected share of each operating site's capacity used, by period."""
    use = plan.tables["utilisation"]
    fig = go.Figure()
    if not use.empty:
        use = use.assign(hours=_expected(use, "hours_used", plan.probabilities),
                         capacity=_expected(use, "capacity_hours", plan.probabilities))
        by_site = use.groupby(["site", "period"], as_index=False)[["hours", "capacity"]].sum()
        for site, group in by_site.groupby("site"):
            group = group.set_index("period").reindex(list(periods))
            share = (100 * group.hours / group.capacity.replace(0, np.nan)).round(1)
            fig.add_trace(go.Scatter(x=list(periods), y=share, mode="lines+markers",
                                     name=str(site)))
    fig.update_layout(title="Site utilisation by period (expected, % of capacity)",
                      yaxis_title="%", yaxis_range=[0, 105], height=420)
    return fig


def unmet_figure(plan: PlanTables, periods: Sequence[str]) -> go.Figure:
    """Units of demand not served, by period and scenario."""
    unmet = plan.tables["unmet"]
    fig = go.Figure()
    scenarios = list(plan.probabilities)
    totals = unmet.groupby(["scenario", "period"]).quantity.sum() if not unmet.empty else (
        pd.Series(dtype=float))
    for scenario in scenarios:
        values = [float(totals.get((scenario, t), 0.0)) for t in periods]
        fig.add_trace(go.Bar(x=list(periods), y=values, name=scenario))
    title = "Unmet demand by period and scenario (units)"
    if unmet.empty:
        title += ": all demand is served"
    fig.update_layout(barmode="group", title=title, yaxis_title="units", height=380)
    return fig


def comparison_figure(comparison: pd.DataFrame) -> go.Figure:
    """The what-if comparison as a table (money in US$ millions)."""
    shown = comparison.copy()
    money = ["objective", "expected_cost", "cvar", "worst_case_cost", "delta_objective",
             "tariff_spend"]
    for column in money:
        shown[column] = (shown[column] / 1e6).round(1)
    shown["delta_objective_pct"] = shown.delta_objective_pct.round(2)
    shown["service_level"] = (100 * shown.service_level).round(2)
    shown["changes"] = shown.changes.where(shown.changes.notna(), shown.reason)
    if "gap" not in shown:
        shown["gap"] = np.nan
    shown["gap"] = (100 * pd.to_numeric(shown["gap"], errors="coerce")).round(3)
    columns = ["variant", "status", "gap", *money, "delta_objective_pct", "service_level",
               "sites_opened", "changes"]
    headers = ["variant", "status", "gap %", "objective $m", "expected $m", "CVaR $m",
               "worst $m", "delta $m", "tariffs $m", "delta %", "service %", "sites opened",
               "changes"]
    table = shown[columns].astype(object).where(shown[columns].notna(), "")
    fig = go.Figure(go.Table(
        header={"values": headers, "fill_color": "#e4ebf2", "align": "left"},
        cells={"values": [table[c].tolist() for c in columns], "align": "left"},
        columnwidth=[2.2, 1, 0.7, 1.2, 1.2, 1.2, 1.2, 1.1, 1.1, 0.9, 0.9, 3, 4]))
    lines = [1 + max(len(str(row.changes)) // 45, len(str(row.sites_opened)) // 28)
             for row in table.itertuples()]
    fig.update_layout(title="What-if comparison", height=160 + sum(22 * n + 16 for n in lines),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def delta_figure(comparison: pd.DataFrame) -> go.Figure:
    """Change of the objective against the base, per variant."""
    rows = comparison[comparison.variant != "base"]
    colors = ["#b42318" if (v or 0) > 0 else "#1a7f37" for v in rows.delta_objective]
    fig = go.Figure(go.Bar(x=rows.variant, y=rows.delta_objective, marker_color=colors,
                           text=[f"{v:+.1f}%" if isinstance(v, float) and math.isfinite(v)
                                 else str(s) for v, s in zip(rows.delta_objective_pct,
                                                            rows.status, strict=True)],
                           textposition="outside"))
    fig.update_layout(title="Objective change against the base, per variant",
                      yaxis_title="US$", height=460)
    return fig


def frontier_figure(points: Sequence[dict[str, Any]]) -> go.Figure:
    """Expected cost against CVaR for each risk weight; dominated points hollow (weights
    whose solve found no plan are left out)."""
    points = [p for p in points if p.get("expected_cost") is not None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p["cvar"] for p in points], y=[p["expected_cost"] for p in points],
        mode="lines+markers+text", text=[f"lambda {p['weight']:g}" for p in points],
        textposition="top right", hovertext=[p["decisions"] for p in points],
        hoverinfo="text+x+y",
        marker={"size": 11, "symbol": ["circle-open" if p["dominated"] else "circle"
                                       for p in points]}))
    fig.update_layout(title="Cost-risk frontier (expected cost against CVaR; hollow:"
                      " dominated)", xaxis_title="CVaR (US$)", yaxis_title="expected cost"
                      " (US$)", height=460)
    return fig


# --- the page -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>
window.reportErrors = [];
window.addEventListener('error', function (e) {{ window.reportErrors.push(String(e.message)); }});
</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #1f2933; }}
h1 {{ font-size: 22px; }} .summary td {{ padding: 2px 12px 2px 0; }}
.chart {{ margin: 18px 0; }}
</style></head><body>
<h1>{title}</h1>
{summary}
{charts}
<script>
window.addEventListener('load', function () {{
  var plots = document.querySelectorAll('.js-plotly-plot');
  document.body.setAttribute('data-plots', String(plots.length));
  document.body.setAttribute('data-errors', window.reportErrors.join(' | '));
  document.body.setAttribute('data-resources', performance.getEntriesByType('resource')
    .map(function (entry) {{ return entry.name; }}).join(' '));
}});
</script>
</body></html>
"""


def _summary_html(summary: dict[str, Any]) -> str:
    def money(value: Any) -> str:
        if not isinstance(value, int | float):
            return "-"
        return f"${value / 1e6:,.1f} m" if abs(value) >= 1e6 else f"${value:,.2f}"

    rows = [("status", str(summary.get("status"))), ("objective", money(summary.get("objective"))),
            ("expected cost", money(summary.get("expected_cost"))),
            ("CVaR", money(summary.get("cvar"))),
            ("worst-case cost", money(summary.get("worst_case_cost")))]
    level = summary.get("service_level")
    if isinstance(level, int | float):
        rows.append(("service level", f"{100 * level:.2f} %"))
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f'<table class="summary">{cells}</table>'


def render(title: str, summary: dict[str, Any], figures: Sequence[go.Figure]) -> str:
    """The HTML page: plotly.js embedded with the first figure, the others reuse it."""
    charts = []
    for i, fig in enumerate(figures):
        div = fig.to_html(full_html=False, include_plotlyjs=(i == 0), config=PLOT_CONFIG)
        charts.append(f'<div class="chart">{div}</div>')
    return PAGE.format(title=html.escape(title), summary=_summary_html(summary),
                       charts="\n".join(charts))


RESOURCE_LOAD = re.compile(
    r"""<(?:script|img|iframe|link|source|embed|video|audio)\b[^>]*?\b(?:src|href)\s*=\s*["']?"""
    r"""(?:https?:)?//[^"'\s>]*|url\(\s*["']?(?:https?:)?//[^)]*\)|@import\s+["']?(?:https?:)?//""",
    re.IGNORECASE)


def resource_loads(page: str) -> list[str]:
    """Every tag, CSS url() or @import in the page that would load something over the network.
    (Link targets inside plotly.js's own code, such as map attributions, load nothing.)"""
    return [match.group(0) for match in RESOURCE_LOAD.finditer(page)]


def _frontier_points(folder: Path) -> list[dict[str, Any]]:
    for name in ("frontier.json", "analysis.json"):
        path = folder / name
        if path.exists():
            document = json.loads(path.read_text())
            points: list[dict[str, Any]] = (document.get("frontier", [])
                                            if isinstance(document, dict) else document)
            return points
    return []


def plan_figures(network: Network, plan: PlanTables) -> list[go.Figure]:
    periods = list(network.settings.periods)
    return [map_figure(network, plan), cost_figure(plan), tariff_figure(plan),
            utilisation_figure(plan, periods), unmet_figure(plan, periods)]


def write_report(folder: str | Path, network: Network | None = None,
                 input_path: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write report.html for a plan folder or a what-if folder; return its path."""
    source = Path(folder)
    if not source.is_dir():
        raise ReportError(f"{source}: no such folder")
    instance = network or find_network(source, input_path)
    comparison_path = source / "comparison.csv"
    figures: list[go.Figure] = []
    if comparison_path.exists():
        comparison = pd.read_csv(comparison_path)
        plan = read_plan(source / "base", instance)
        figures += [comparison_figure(comparison), delta_figure(comparison)]
        points = _frontier_points(source)
        if points:
            figures.append(frontier_figure(points))
        figures += plan_figures(instance, plan)
        title = f"What-if report: {len(comparison) - 1} variants against the base"
    else:
        plan = read_plan(source, instance)
        figures += plan_figures(instance, plan)
        points = _frontier_points(source)
        if points:
            figures.append(frontier_figure(points))
        title = "Plan report"
    target = Path(out) if out is not None else source / REPORT_FILE
    target.write_text(render(title, plan.summary, figures), encoding="utf-8")
    return target

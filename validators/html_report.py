"""The self-contained HTML validation report, laid out as `validators.report_view` orders it.

Figures are made by the modality's plotting module (`validators.table_plots`,
`validators.image_plots`) as PNG bytes; this module only lays them out. The HTML embeds every
figure as a data URI, so the one file can be attached to a Prefect artifact, mailed or opened
from object storage; the PNGs are also written beside it (`plots/<name>.png`) for reuse, and each
figure links to its file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from validators.report import ValidationReport
from validators.report_view import NONE, Headline, ReportView, Row, report_view, short_name

REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


@dataclass(frozen=True)
class Figure:
    """One plot of the report. `name` is its file stem (unique in a report, `[a-z0-9_-]`)."""

    name: str
    section: str
    title: str
    png: bytes
    caption: str = ""


def render_html(report: ValidationReport, figures: Sequence[Figure], title: str) -> str:
    """The report as one HTML page, in reading order (`validators.report_view`): verdict and
    headline figures, the figures by section at full width, every check, then the expectations
    per column, collapsed."""
    view = report_view(report)
    sections: dict[str, list[Figure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    figures_html = "\n".join(
        f"<h2>{_e(section)}</h2>\n" + "\n".join(_figure_html(f) for f in items)
        for section, items in sections.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{STYLE}</style></head><body><main>
<h1>{_e(title)}</h1>
<p class="verdict {"passed" if view.passed else "failed"}"><strong>{view.verdict}</strong>:
{_e(view.summary)}.</p>
<p class="sizes">{_e(view.sizes)} Created {report.created_at.isoformat(timespec="seconds")}.</p>
{_headlines_html(view.headlines)}
{figures_html}
<h2>Checks</h2>
<p class="note">Baseline: the same measure on real data only (the real holdout against the
training rows); {NONE} where a check has none.</p>
{_rows_table(view.checks)}
{_expectations_html(view)}
</main></body></html>
"""


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; line-height: 1.4; }
main { max-width: 1200px; margin: 0 auto; padding: 1.5em 2em; }
h1 { margin: 0 0 0.3em; } h2 { margin: 1.6em 0 0.5em; border-bottom: 1px solid #ddd; }
.verdict { font-size: 1.2em; padding: 0.6em 0.9em; border-radius: 6px; margin: 0.4em 0; }
.verdict.passed { background: #e3f4e1; border-left: 6px solid #2e7d32; }
.verdict.failed { background: #fde3e1; border-left: 6px solid #c62828; }
.sizes, .note { color: #555; font-size: 0.9em; }
.headlines { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr));
  gap: 0.8em; margin: 1em 0; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.7em 0.9em; border-top-width: 6px; }
.card.pass { border-top-color: #2e7d32; } .card.fail { border-top-color: #c62828; }
.card.advisory { border-top-color: #ef8f00; } .card.info { border-top-color: #888; }
.card .title { font-weight: 600; } .card .value { font-size: 1.9em; font-weight: 600; }
.card .limits { font-size: 0.9em; margin: 0.2em 0; }
.pill { font-size: 0.45em; vertical-align: middle; white-space: nowrap; padding: 0.15em 0.5em;
  border-radius: 1em; background: #eee; } .card.fail .pill { background: #c62828; color: #fff; }
.card.pass .pill { background: #2e7d32; color: #fff; }
.card .meaning { font-size: 0.85em; color: #444; }
.card code { font-size: 0.8em; color: #555; }
figure { margin: 0 0 1.5em; } figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #444; }
table { border-collapse: collapse; width: 100%; font-size: 0.88em; table-layout: fixed; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f3f3f3; }
col.name { width: 24%; } col.num { width: 9%; } col.verdict { width: 9%; }
tr.fail { background: #fdd; } tr.advisory { background: #ffe9c4; } tr.info { color: #555; }
details { border: 1px solid #ddd; border-radius: 4px; margin: 0.3em 0; padding: 0.2em 0.6em; }
details.failed { border-color: #c62828; } summary { cursor: pointer; }
details table { margin: 0.4em 0; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _headlines_html(headlines: Sequence[Headline]) -> str:
    if not headlines:
        return ""
    cards = "\n".join(
        f"<div class='card {h.row.status}'><div class='title'>{_e(h.title)} "
        f"<code>{_e(h.row.name)}</code></div>"
        f"<div class='value'>{_e(h.row.value)} <span class='pill'>{_e(h.row.verdict)}</span></div>"
        f"<div class='limits'>{'gate' if h.row.gate else 'advisory'} {_e(h.row.threshold)}<br>"
        f"real-vs-real {_e(h.row.baseline)}</div>"
        f"<div class='meaning'>{_e(h.meaning)}</div></div>"
        for h in headlines
    )
    return f"<section class='headlines'>\n{cards}\n</section>"


def _rows_table(rows: Sequence[Row], short: bool = False) -> str:
    body = "\n".join(
        f"<tr class='{r.status}'><td><code title='{_e(r.name)}'>"
        f"{_e(short_name(r.name) if short else r.name)}</code></td>"
        f"<td>{_e(r.value)}</td><td>{_e(r.threshold)}</td><td>{_e(r.baseline)}</td>"
        f"<td>{_e(r.verdict)}</td><td>{_e(r.detail)}</td></tr>"
        for r in rows
    )
    return (
        "<table><colgroup><col class='name'><col class='num'><col class='num'><col class='num'>"
        "<col class='verdict'><col></colgroup>\n<tr><th>check</th><th>value</th>"
        "<th>threshold</th><th>baseline</th><th>verdict</th><th>detail</th></tr>\n"
        f"{body}\n</table>"
    )


def _expectations_html(view: ReportView) -> str:
    if not view.expectations:
        return ""
    groups = "\n".join(
        f"<details class='{'failed' if g.failed else 'passed'}'{' open' if g.failed else ''}>"
        f"<summary><code>{_e(g.column)}</code>: "
        + (
            f"<strong>{g.failed} of {len(g.rows)} failed</strong>"
            if g.failed
            else f"{len(g.rows)} passed"
        )
        + f"</summary>\n{_rows_table(g.rows, short=True)}\n</details>"
        for g in view.expectations
    )
    return f"<h2>Expectations per column</h2>\n<p>{_e(view.expectations_summary)}</p>\n{groups}"


def _figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = f"<strong>{_e(figure.title)}</strong>" + (
        f"<br>{_e(figure.caption)}" if figure.caption else ""
    )
    return (
        f"<figure id='{figure.name}'><a href='{PLOTS_DIR}/{figure.name}.png'>"
        f"<img alt='{_e(figure.title)}' src='data:image/png;base64,{data}'></a>"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def write_report(
    directory: Path, report: ValidationReport, figures: Sequence[Figure], title: str
) -> Path:
    """Write `report.html` and `plots/<name>.png` under `directory`; returns the HTML's path."""
    names = [f.name for f in figures]
    if len(set(names)) != len(names):
        raise ValueError(f"Figure names must be unique in a report, got {names}.")
    plots = directory / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (plots / f"{figure.name}.png").write_bytes(figure.png)
    path = directory / REPORT_HTML
    path.write_text(render_html(report, figures, title), encoding="utf-8")
    return path

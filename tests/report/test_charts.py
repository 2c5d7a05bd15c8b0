"""Charts are well-formed, self-contained SVG with escaped labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from maga.report import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # fetches nothing
    return root


def test_grouped_bars_draw_one_rect_per_value_and_escape_labels() -> None:
    svg = charts.grouped_bars(["<a>", "b&c"], {"x": [1, 2], "y": [3, None]}, "T <1>")
    root = parse(svg)
    assert len(root.findall(f"{SVG}rect")) == 3 + 2  # 3 bars (None skipped) + 2 legend keys
    assert root.find(f"{SVG}title").text == "T <1>"
    assert "&lt;a&gt;" in svg and "b&amp;c" in svg


def test_percent_axis_and_histogram_bins() -> None:
    parse(charts.bars(["a"], [0.5], "share", as_pct=True))
    root = parse(charts.histogram([0.1, 0.15, 0.9], "h", bins=2, lo=0.0, hi=1.0))
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "count / 0: 2" in titles and "count / 0.5: 1" in titles
    assert "no values" in charts.histogram([], "empty")


def test_scatter_and_horizontal_bars() -> None:
    root = parse(charts.scatter({"source": [(0, 0), (1, 1)], "synthetic": [(2, 0.5)]}, "s"))
    assert len(root.findall(f"{SVG}circle")) == 2
    assert "synthetic (1)" in ET.tostring(root, encoding="unicode")
    parse(charts.hbars(["stage a", "stage b"], [3.0, 12.5], "seconds", unit=" s"))

"""Data-quality reports: one self-contained HTML page per run, with the
great-expectations Data Docs it links to, and the collapse early-warning gate."""

from __future__ import annotations

from typing import Any

__all__ = ["build_report"]


def build_report(run_uri: str, **kwargs: Any) -> str:
    """Build ``<run>/report.html`` and ``<run>/data_docs/``; see :mod:`maga.report.build`."""
    from maga.report.build import build_report as build

    return build(run_uri, **kwargs)

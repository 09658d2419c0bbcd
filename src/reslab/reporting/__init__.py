"""Reporting: figures and self-contained HTML drawn from saved run directories (never computed).

Every experiment gets the generic report (``summary``); it adds its figures in
`reslab/reporting/<experiment>.py` with `@register_figures`; see docs/reporting.md.
"""

from __future__ import annotations

from reslab.reporting._format import MeanStd, format_mean_std, format_number
from reslab.reporting._markup import Markup
from reslab.reporting.html import Report
from reslab.reporting.index import write_index
from reslab.reporting.registry import (
    ReportError,
    build_report,
    get_figures,
    load_results,
    register_figures,
)

__all__ = [
    "Markup",
    "MeanStd",
    "Report",
    "ReportError",
    "build_report",
    "format_mean_std",
    "format_number",
    "get_figures",
    "load_results",
    "register_figures",
    "write_index",
]

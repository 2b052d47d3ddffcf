"""Human-readable renderings of a BenchResult: Markdown and a self-contained HTML page with inline SVG plots."""

from omninft.bench.report.html import to_html
from omninft.bench.report.markdown import to_markdown

__all__ = ["to_html", "to_markdown"]

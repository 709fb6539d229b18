"""Dashboards: plain data (data.py) -> Plotly figures (figures.py) -> pages (pages.py)."""

from dashboards.pages import PAGES, page_figures, plotly_js, render_page, write_dashboards

__all__ = ["PAGES", "page_figures", "plotly_js", "render_page", "write_dashboards"]

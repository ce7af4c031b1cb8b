"""Serve plotly's own `plotly.min.js` (from the installed package) as `vendor/plotly.min.js`.

Only that one file is exposed: the package's data folder also holds datasets and templates we
have no reason to publish or collect.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_FILE = "plotly.min.js"
PUBLIC_PATH = f"vendor/{PLOTLY_FILE}"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
        self.storage.prefix = "vendor"

    def find(self, path: str, find_all: bool = False, **kwargs):
        if path != PUBLIC_PATH:
            return [] if find_all or kwargs.get("all") else None
        match = self.storage.path(PLOTLY_FILE)
        return [match] if find_all or kwargs.get("all") else match

    def list(self, ignore_patterns):
        yield PLOTLY_FILE, self.storage

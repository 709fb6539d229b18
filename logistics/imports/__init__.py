"""Importing CSV/XLSX/GeoJSON files (contract: formats.md "Import files").

Public API: :func:`import_paths` and :class:`ImportReport`. Errors are raised as
:class:`logistics.domain.ImportRejected` before anything is written.
"""

from logistics.imports.schema import KINDS, kind_from_stem, parse_kind
from logistics.imports.service import ImportReport, KindCount, import_paths

__all__ = ["KINDS", "ImportReport", "KindCount", "import_paths", "kind_from_stem", "parse_kind"]

"""Leak scanning: managed values (known-value detector) and secret-like text (pattern rules).

Stands alone: it imports no storage, crypto or face of stacksafe. Callers hand it the values
to look for, already decrypted, and the inputs; it hands back findings that never hold a
matched text (see docs/scanning.md).
"""

from __future__ import annotations

from stacksafe.scan.baseline import Baseline as Baseline
from stacksafe.scan.engine import Detectors as Detectors
from stacksafe.scan.engine import ScanResult as ScanResult
from stacksafe.scan.engine import scan_git as scan_git
from stacksafe.scan.engine import scan_paths as scan_paths
from stacksafe.scan.engine import scan_stream as scan_stream
from stacksafe.scan.findings import Finding as Finding
from stacksafe.scan.findings import Location as Location
from stacksafe.scan.known import MIN_VALUE_LENGTH as MIN_VALUE_LENGTH
from stacksafe.scan.known import KnownValues as KnownValues
from stacksafe.scan.report import ReportFormat as ReportFormat
from stacksafe.scan.report import render as render

__all__ = [
    "MIN_VALUE_LENGTH",
    "Baseline",
    "Detectors",
    "Finding",
    "KnownValues",
    "Location",
    "ReportFormat",
    "ScanResult",
    "render",
    "scan_git",
    "scan_paths",
    "scan_stream",
]

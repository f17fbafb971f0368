"""Reports: the self-contained HTML report of an analysis."""

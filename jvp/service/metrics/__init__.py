"""Metrics (issue 16): the collector (collector.py) and the actions' queries (service.py)."""

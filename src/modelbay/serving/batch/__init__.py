"""Batch transform's data path: records split, joined and filtered (records.py) with the JSONPath subset of
DataProcessing (jsonpath.py)."""

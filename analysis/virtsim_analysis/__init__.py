"""Read virtsim HDF5 result files into pandas DataFrames (schema: docs/results-schema.md)."""
from .canonical import CANONICAL_METRICS, canonical_metrics
from .results import SCHEMA_VERSION, ResultFile, SchemaError, load

__all__ = ["CANONICAL_METRICS", "SCHEMA_VERSION", "ResultFile", "SchemaError", "canonical_metrics", "load"]

"""Schema, connections and sample data for the PMO Recovery Bot's SQLite database."""

from .sample import SampleSummary, create_sample_database, write_sample_data_files
from .schema import (
    APPLICATION_ID,
    EXPECTED_TABLES,
    FTS_TABLE,
    SCHEMA_VERSION,
    connect,
    create_database,
    fts5_available,
)

__all__ = [
    "APPLICATION_ID",
    "EXPECTED_TABLES",
    "FTS_TABLE",
    "SCHEMA_VERSION",
    "SampleSummary",
    "connect",
    "create_database",
    "create_sample_database",
    "fts5_available",
    "write_sample_data_files",
]

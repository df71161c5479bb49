"""The gate: Great Expectations suites over the landed data, the marts and the candidate publication."""

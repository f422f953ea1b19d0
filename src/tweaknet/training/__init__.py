"""The fit loop's parts: metrics and batching."""

"""irbench engine: datasets, metrics, runner, store, reports and CLI."""

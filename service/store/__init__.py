"""All SQL: the engine, the schema's migrations, and the stores that run named queries
and return domain values. Stores import nothing of the web, the queue or the CLI."""

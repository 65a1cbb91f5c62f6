"""The scoring consumer: claims jobs from PostgreSQL, scores them off the event loop,
decides by policy and commits through the stores."""

"""All SQL: every read and write of replyguard's data, returning domain values.

Each public method of a store is one transaction; the SQL itself is named and commented in
the ``*queries`` modules, so changing a query means opening one file. Stores import nothing
of the web, the workers or the CLI (an import-linter contract).

- ``db``: the engine, the embedded PostgreSQL, LISTEN, error classification
- ``schema`` and ``migrations/``: numbered migrations, applied under an advisory lock
- ``values`` and ``rows``: the values stores take and give, and rows turned into them
- ``sites``, ``comments``, ``jobs`` (the scoring queue), ``tokens``, ``health``,
  ``authors`` (export and erasure), with ``queries`` and ``limits``
- ``review`` (the moderator's page: users, sessions, claims, changes), ``staff``,
  ``webhooks``, ``decisions`` (what moderators decided, to train on), ``shadows`` (shadow
  models' scores and figures), each with its own
  ``*_queries``
"""

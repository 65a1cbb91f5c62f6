"""replyguard's running service, one sub-package per part, each importing only those below:

- ``cli``: the ``replyguard`` command (serve, web, worker, deliver, migrate, admin commands)
- ``web``: the aiohttp app, the JSON API, the moderator's pages, the widget's files
- ``webhooks`` and ``queue``: the webhook deliverer and the scoring worker
- ``accounts``: who may act (users, passwords, sessions, tokens)
- ``store``: all SQL, the migrations, one store per area

and, below them all, the modules here: ``settings``, ``errors``, ``logs``, ``times``,
``cursors``, ``netaddr``, ``waiting``, ``wording``.
"""

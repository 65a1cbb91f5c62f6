"""The ``replyguard`` command line: serve, web, worker, migrate, and the admin commands.

``main`` (in ``service.cli.main``) parses the command and hands it to the module that owns
it: ``schema`` (migrate), ``users`` and ``staff`` (who may act), ``model`` (train, evaluate,
fetch models), ``healthcheck`` (the container's probe).
"""

from service.cli.main import main

__all__ = ["main"]

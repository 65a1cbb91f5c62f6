"""replyguard's running service: settings, the aiohttp app, stores (all SQL), workers, CLI."""

"""The aiohttp application: handlers, middleware, the OpenAPI document, the moderator's
pages and the widget's static files. Handlers hold no SQL and import no model code."""

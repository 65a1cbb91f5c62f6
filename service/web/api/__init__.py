"""The JSON API, one module per audience: public (article pages and readers),
review (moderators), webhooks and staff (admins), shadows (the models, live and shadow)."""

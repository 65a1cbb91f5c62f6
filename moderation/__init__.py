"""replyguard's domain: comments, decisions, policy, text normalisation and scoring.

Pure Python and the standard library, except the scoring modules, which load Detoxify and
torch. Nothing here imports the service, aiohttp or SQLAlchemy (an import-linter contract
in pyproject.toml keeps it so).
"""

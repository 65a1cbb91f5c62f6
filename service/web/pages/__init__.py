"""The moderator's web page: sign-in, the queue and its templates."""

"""Who may act: moderator and admin users, passwords, sessions and API tokens."""

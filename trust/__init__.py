"""What each service trusts: its secrets and production mode
(trust/secrets.py), and the channel's signed real name (trust/realname.py)."""

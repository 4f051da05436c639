"""Keys of a message's metadata.

A client sends `realname_token` (../shared/CONTRACT.md): the mini-program's
server's signed identity. The Rasa channel (bot/channels.py) verifies it and
passes on `verified_realname` {"name", "id_number"} instead, the only
identity the actions trust; nothing else a client sends is passed on.
"""

REALNAME_TOKEN = "realname_token"
VERIFIED_REALNAME = "verified_realname"

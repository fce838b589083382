"""Publishing: a client's channels (social accounts) and the inbound items they receive."""

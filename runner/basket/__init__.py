"""Basket bots: one strategy over several symbols with one cash balance (`runner.config.basket`)."""

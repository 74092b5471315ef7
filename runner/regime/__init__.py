"""The market regime in the runner: one detector per stream and setting, fitted off the event
loop (`shared`), and each bot's view of it: its strategy's regime, and the entries refused
outside the bot's regimes (`gate`). The detector itself is pure: `strategies.regime`."""

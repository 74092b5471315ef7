"""Governance at run time: a bot's ladder, health and drift as it trades (`bot_governance`),
where its saved level is found on a restart (`saved`), a shadow bot's journal (`shadow_journal`)."""

"""Notifications to people: a kill switch, a failed bot, the daemon starting and stopping,
live fills, a daily summary, sent through apprise (Telegram, Slack, Discord, e-mail, webhooks).

`config` is the `notifications:` block of daemon.yaml; `events` says what is sent and how it
reads; `sender` queues and sends without ever holding up a bot; `apprise_target` is the only
module that imports apprise (an optional extra: `pip install 'botrunner[notify]'`); `daily`
schedules the summary; `daemon` subscribes all of it to the daemon's journal and lifecycle.
"""

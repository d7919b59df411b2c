"""Slack: ``render`` (Briefing/Reply -> Block Kit), ``publisher`` (the Publisher port over
the Web API) and ``app`` (slack-bolt wiring: ``/brief`` and buttons in, replies out).

Imported only when ``SLACK_BOT_TOKEN`` is set, so the console alone never loads the SDK.
"""

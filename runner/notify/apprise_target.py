"""The apprise adapter: one `AppriseTarget` per environment variable of `notifications.urls_env`.

apprise is an optional extra (`pip install 'botrunner[notify]'`) and is imported here only, when
notifications are configured: the daemon without them never loads it. apprise knows a hundred
services by their URL (`tgram://token/chat`, `slack://...`, `discord://...`, `mailto://...`,
`json://host/path` for any webhook), which users already write for other tools; writing even
three of those clients by hand would be more code than this whole package.

A variable may hold several URLs (separated by spaces or commas): they are one target, sent to
together. apprise logs its URLs, path tokens included, at DEBUG; its logger is cut off from
the process' logging on first use here, and failures are logged by the sender, naming the
variable only.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from types import ModuleType

from runner.notify.events import Notice
from runner.notify.sender import NotificationFailed

__all__ = ["AppriseTarget", "AppriseUnavailable", "load_apprise", "url_problems"]

INSTALL_HINT = "pip install 'botrunner[notify]' (or pip install apprise)"


class AppriseUnavailable(Exception):
    """Notifications are configured but the apprise package is not installed."""


def load_apprise() -> ModuleType:
    """Import apprise and mute its logger (it logs URLs with their tokens); AppriseUnavailable
    when it is not installed."""
    try:
        import apprise
    except ImportError:
        raise AppriseUnavailable(f"notifications need the apprise package: {INSTALL_HINT}") from None
    # propagate=False: a root handler someone configures (pytest's log capture, a library's
    # basicConfig) would otherwise receive "JSON POST URL: https://.../<token>" lines.
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.propagate = False
    if not apprise_logger.handlers:
        apprise_logger.addHandler(logging.NullHandler())
    return apprise


def url_problems(urls_env: list[str], environ: Mapping[str, str]) -> list[str]:
    """What stops `urls_env` from being sent to, one line each, naming variables and never their
    values: unset or empty, not a URL apprise reads, or apprise missing."""
    problems = [f"set the environment variable {name} to an apprise URL (e.g. tgram://TOKEN/CHAT_ID, "
                f"json://host/path); it is unset or empty" for name in urls_env if not environ.get(name, "").strip()]
    if problems:
        return problems
    try:
        load_apprise()
    except AppriseUnavailable as exc:
        return [str(exc)]
    for name in urls_env:
        try:
            AppriseTarget(name, environ[name])
        except NotificationFailed as exc:
            problems.append(str(exc))
    return problems


class AppriseTarget:
    """Sends notices to the URL(s) in one environment variable; `name` is the variable."""

    def __init__(self, name: str, urls: str) -> None:
        apprise = load_apprise()
        self.name = name
        self._apprise = apprise.Apprise()
        with warnings.catch_warnings():
            # The first URL loads apprise's plugins, and its e-mail plugin imports `imghdr`
            # (deprecated since Python 3.11): a warning that says nothing to an operator.
            warnings.simplefilter("ignore", DeprecationWarning)
            added = self._apprise.add(urls)
        if not added:
            raise NotificationFailed(f"{name} holds no URL apprise can read; expected e.g. tgram://TOKEN/CHAT_ID, "
                                     "slack://..., mailto://..., json://host/path (see apprise's wiki)")
        self._types = {"info": apprise.NotifyType.INFO, "success": apprise.NotifyType.SUCCESS,
                       "warning": apprise.NotifyType.WARNING, "failure": apprise.NotifyType.FAILURE}

    def __repr__(self) -> str:
        return f"AppriseTarget(${self.name})"         # never the URL

    async def send(self, notice: Notice) -> None:
        """Send to every URL of the variable; NotificationFailed when any of them failed.
        apprise runs its blocking HTTP clients on its own worker threads."""
        delivered = await self._apprise.async_notify(body=notice.body, title=notice.title,
                                                     notify_type=self._types[notice.severity])
        if not delivered:
            raise NotificationFailed("the service refused it or could not be reached")

"""Trials of parameter searches, kept in a SQLite file of the state folder so that an
interrupted search, run again with the same settings, skips what it has already done.

One row per finished trial (a trial that was running when the search stopped left none, and
runs again). A study is named; its settings are stored with it, so that a name reused with
other ranges, objective or data is refused rather than mixing two searches' trials.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["StudyMismatch", "TrialRecord", "TrialState", "TrialStore", "params_key"]


class TrialState(str, Enum):
    COMPLETE = "complete"          # ran, met the constraints: `value` is the objective
    INFEASIBLE = "infeasible"      # ran, broke a constraint (too few trades) or gave no finite objective
    INVALID = "invalid"            # the config the values make is refused (fast >= slow): never ran
    FAILED = "failed"              # the backtest raised


@dataclass(frozen=True, slots=True)
class TrialRecord:
    number: int
    params: dict[str, Any]
    state: TrialState
    value: float | None = None
    summary: dict[str, Any] | None = None
    note: str = ""

    @property
    def key(self) -> str:
        return params_key(self.params)


def params_key(params: dict[str, Any]) -> str:
    """The values as one comparable text: the same set of values always gives the same key."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class StudyMismatch(ValueError):
    """A study name already holds a search with other settings."""


class TrialStore:
    """`optimize.sqlite` in the state folder. Each trial is committed as it finishes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        # WAL without a sync per commit: a trial's commit took 17 ms of fsync on a busy disk, as
        # long as a short backtest, in the process that hands out the work. A power cut may lose
        # the last trials; they run again on resume, which is all a lost trial costs.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS studies (name TEXT PRIMARY KEY, settings TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS trials (
                study TEXT NOT NULL, number INTEGER NOT NULL, key TEXT NOT NULL, params TEXT NOT NULL,
                state TEXT NOT NULL, value REAL, summary TEXT, note TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (study, number));
            CREATE INDEX IF NOT EXISTS trials_by_key ON trials (study, key);
        """)

    def open_study(self, name: str, settings: dict[str, Any]) -> None:
        """Create the study, or check that the stored one was made with the same settings."""
        text = json.dumps(settings, sort_keys=True, default=str)
        row = self._db.execute("SELECT settings FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            with self._db:
                self._db.execute("INSERT INTO studies (name, settings) VALUES (?, ?)", (name, text))
        elif row[0] != text:
            raise StudyMismatch(f"study {name!r} in {self.path} was made with other settings "
                                f"(ranges, objective, constraints or data); give another --study name")

    def trials(self, study: str) -> list[TrialRecord]:
        rows = self._db.execute(
            "SELECT number, params, state, value, summary, note FROM trials WHERE study = ? ORDER BY number",
            (study,)).fetchall()
        return [TrialRecord(number, json.loads(params), TrialState(state), value,
                            json.loads(summary) if summary else None, note)
                for number, params, state, value, summary, note in rows]

    def add(self, study: str, trial: TrialRecord) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO trials (study, number, key, params, state, value, summary, note) VALUES (?,?,?,?,?,?,?,?)",
                (study, trial.number, trial.key, json.dumps(trial.params), trial.state.value, trial.value,
                 json.dumps(trial.summary) if trial.summary is not None else None, trial.note))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""Settings, declared once as a table.

The table below drives validation, the ``portrait.toml`` written by ``portrait init``, the
``portrait config`` listing and ``docs/configuration.md`` (a test checks that every setting is
documented). Precedence: defaults < ``portrait.toml`` < ``PORTRAIT_*`` environment variables <
explicit overrides (CLI flags). A setting may also answer to alias variables (the metadata
database URL to ``PORTRAIT_DATABASE_URL``, the name deployments commonly set); when both are
set, the setting's own ``PORTRAIT_<SECTION>_<KEY>`` wins, being the more specific.

Longer than ~400 lines because the settings table is one declaration by design (every
setting's name, default, check and help in one place); the code around it is short.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portrait.errors import ConfigError

CONFIG_FILE = "portrait.toml"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a whole number")
    number = int(value)
    if number < 0:
        raise ValueError("expected a number >= 0")
    return number


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value)
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return check


def _engine_name(value: Any) -> str:
    # The names themselves are the engine registry's (portrait.engine.registry, a layer
    # above): it checks them, with the known names in its message, when an engine is opened.
    text = str(value)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", text):
        raise ValueError("expected an engine name such as duckdb")
    return text


def _as_of(value: Any) -> str:
    text = str(value)
    if text == "auto":
        return text
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected 'auto' or a date like 2026-10-31") from None
    return text


def _timezone(value: Any) -> str:
    text = str(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as UTC or Asia/Shanghai") from None
    return text


def _memory(value: Any) -> str:
    text = str(value).strip()
    if text and not re.fullmatch(
        r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text, re.IGNORECASE
    ):
        raise ValueError("expected an amount such as 512MB or 8GB, or empty for the engine default")
    return text


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number of seconds") from None
    if not number > 0:
        raise ValueError("expected a number of seconds > 0")
    return number


def _non_negative(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError("expected a finite number >= 0")
    return number


def _date(value: Any) -> str:
    text = str(value)
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date like 1970-01-01") from None
    return text


def _role(value: Any) -> str:
    text = str(value)
    roles = (
        "viewer",
        "analyst",
        "marketer",
        "admin",
    )  # model.access.ROLES (config imports nothing)
    if text not in roles:
        raise ValueError(f"expected one of {', '.join(roles)}")
    return text


def _database_url(value: Any) -> str:
    text = str(value).strip()
    if text and not re.fullmatch(r"[a-z][a-z0-9+]*://.*", text):
        raise ValueError("expected a database URL such as postgresql+psycopg://user@host/db")
    return text


@dataclass(frozen=True)
class Setting:
    """One setting: dotted name (``section.key``), default, parser/validator and help text;
    ``aliases`` are further environment variables that set it, weaker than :attr:`env`."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    aliases: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return "PORTRAIT_" + self.name.replace(".", "_").upper()

    @property
    def envs(self) -> tuple[str, ...]:
        """Every environment variable of the setting, the one that wins first."""
        return (self.env, *self.aliases)

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


SETTINGS: tuple[Setting, ...] = (
    Setting("engine.type", "duckdb", _engine_name, "Engine that computes tags (DuckDB, embedded)."),
    Setting("engine.threads", 0, _positive_int, "Engine threads; 0 uses every core."),
    Setting(
        "engine.memory_limit",
        "",
        _memory,
        "Engine memory limit such as '8GB'; empty uses the engine default (80% of RAM).",
    ),
    Setting(
        "data.as_of",
        "auto",
        _as_of,
        "Date that tag windows ('last 7 days') end on: 'auto' (the last event date) or a date.",
    ),
    Setting(
        "data.timezone",
        "UTC",
        _timezone,
        "Time zone of timestamps without an offset in input files; all are stored in UTC.",
    ),
    Setting(
        "ingest.on_error",
        "reject",
        _choice("reject", "fail"),
        "Bad rows: 'reject' writes them to rejects/ and loads the rest; 'fail' loads nothing.",
    ),
    Setting(
        "ingest.min_time",
        "1970-01-01",
        _date,
        "Earliest timestamp accepted at ingest (UTC date); earlier ones are rejected rows.",
    ),
    Setting(
        "ingest.max_time",
        "2100-01-01",
        _date,
        "Timestamps from this UTC date on are rejected rows at ingest (a typo such as "
        "99999-01-01 would otherwise break every later build).",
    ),
    Setting(
        "store.keep_versions",
        2,
        _positive_int,
        "How many earlier data and profile versions to keep after a swap (for readers still on them).",
    ),
    Setting(
        "store.metadata_url",
        "",
        _database_url,
        "SQLAlchemy URL of the metadata database (segments, ID lists, snapshots); empty: "
        "SQLite in meta/portrait.db. PostgreSQL: postgresql+psycopg://user@host/db.",
        aliases=("PORTRAIT_DATABASE_URL",),
    ),
    Setting(
        "campaigns.cap_messages",
        0,
        _positive_int,
        "Frequency cap: at most this many messages per user per channel in cap_days rolling "
        "days, across campaigns; 0 turns the cap off. A campaign may set its own (cap:).",
    ),
    Setting("campaigns.cap_days", 7, _positive_int, "The cap's rolling window in days."),
    Setting(
        "campaigns.batch_size",
        1000,
        _positive_int,
        "Messages per delivery batch (one outbox file, one webhook request).",
    ),
    Setting(
        "campaigns.attempts",
        5,
        _positive_int,
        "Tries per batch on a retryable failure (5xx, timeout, refused connection), with "
        "exponential backoff; then the campaign stops, resumable.",
    ),
    Setting(
        "api.timeout",
        30.0,
        _seconds,
        "HTTP API: seconds an analysis (count, insight, cross, RFM, segment evaluation, "
        "export) may take before the caller gets a 'timeout' error; also the longest wait "
        "for a busy workspace.",
    ),
    Setting(
        "console.idle_timeout",
        1800.0,
        _seconds,
        "Web console: seconds a signed-in session may stay unused before it ends.",
    ),
    Setting(
        "console.session_lifetime",
        43200.0,
        _seconds,
        "Web console: seconds a session lasts at most, however active (then sign in again).",
    ),
    Setting(
        "console.max_failures",
        5,
        _positive_int,
        "Web console: failed sign-ins in a row before an account (or name) must wait; the "
        "wait doubles with every further failure, from 30 s up to 15 minutes.",
    ),
    Setting(
        "privacy.min_count",
        10,
        _positive_int,
        "Disclosure control: below the exact-numbers permission (viewer), counts under this "
        "(zero included) and every number computed from them are suppressed; 0 turns it off.",
        aliases=("PORTRAIT_API_SMALL_CELL",),
    ),
    Setting(
        "privacy.epsilon",
        0.5,
        _non_negative,
        "Disclosure control: noise on every count released below the exact-numbers "
        "permission, as the privacy loss per count (discrete Laplace of scale 1/epsilon, "
        "fixed per query); 0 turns the noise off.",
    ),
    Setting(
        "privacy.daily_budget",
        200.0,
        _non_negative,
        "Disclosure control: the privacy loss (sum of epsilon over distinct queries) one "
        "caller below the exact-numbers permission may spend per UTC day; 0: no limit.",
    ),
    Setting(
        "privacy.local_role",
        "admin",
        _role,
        "The role of whoever opens the workspace directly (Python API, CLI) when no role is "
        "given (--role, portrait.open(role=...)).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Config(Mapping[str, Any]):
    """Resolved settings of one workspace: ``config["engine.threads"]``."""

    def __init__(
        self,
        values: Mapping[str, Any],
        sources: Mapping[str, str],
        channels: Mapping[str, Mapping[str, Any]] | None = None,
        path: Path | None = None,
    ):
        self._values = dict(values)
        self.sources = dict(sources)
        #: ``[channels.NAME]`` tables of portrait.toml, checked where they are used
        self.channels = {k: dict(v) for k, v in (channels or {}).items()}
        self.path = path

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _apply(setting: Setting, raw: Any, origin: str) -> Any:
    try:
        return setting.parse(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"bad value {raw!r} for setting '{setting.name}': {exc}",
            where=origin,
            hint=setting.help,
        ) from None


def load_config(
    workspace: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve every setting for ``workspace`` (defaults < toml < env < overrides)."""
    env = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    channels: dict[str, dict[str, Any]] = {}
    path = None
    if workspace is not None:
        path = workspace / CONFIG_FILE
        if path.exists():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"cannot parse: {exc}", where=str(path)) from None
            for section, table in data.items():
                if not isinstance(table, dict):
                    raise ConfigError(
                        f"'{section}' must be a [section], not a bare value",
                        where=str(path),
                        hint="see docs/configuration.md",
                    )
                if section == "channels":
                    for name, channel in table.items():
                        if not isinstance(channel, dict):
                            raise ConfigError(
                                f"channel '{name}' must be a [channels.{name}] table",
                                where=str(path),
                                hint="see docs/campaigns.md",
                            )
                        channels[name] = channel
                    continue
                for key, raw in table.items():
                    name = f"{section}.{key}"
                    setting = _BY_NAME.get(name)
                    if setting is None:
                        raise ConfigError(
                            f"unknown setting '{name}'",
                            where=str(path),
                            hint="known settings: " + ", ".join(_BY_NAME),
                        )
                    values[name] = _apply(setting, raw, str(path))
                    sources[name] = str(path)
    for setting in SETTINGS:
        name = next((n for n in setting.envs if n in env), None)
        if name is not None:
            values[setting.name] = _apply(setting, env[name], f"${name}")
            sources[setting.name] = f"${name}"
    for name, raw in (overrides or {}).items():
        setting = _BY_NAME.get(name)
        if setting is None:
            raise ConfigError(f"unknown setting '{name}'", hint="known: " + ", ".join(_BY_NAME))
        values[name] = _apply(setting, raw, "command line")
        sources[name] = "command line"
    return Config(values, sources, channels, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    return str(value)


def default_toml(values: Mapping[str, Any] | None = None) -> str:
    """The ``portrait.toml`` that ``portrait init`` writes: every setting, commented out at its
    default, so ``portrait config`` shows which ones a user changed; ``values`` (by setting
    name, checked like any setting) are written set."""
    chosen = dict(values or {})
    for name in chosen:
        if name not in _BY_NAME:
            raise ConfigError(f"unknown setting '{name}'", hint="known: " + ", ".join(_BY_NAME))
    lines = [
        "# Portrait workspace settings. Environment variables PORTRAIT_<SECTION>_<KEY> override."
    ]
    section = None
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            lines.append(f"\n[{section}]")
        lines.append(f"# {s.help}")
        if s.name in chosen:
            lines.append(f"{s.key} = {_toml_value(_apply(s, chosen[s.name], 'init'))}")
        else:
            lines.append(f"# {s.key} = {_toml_value(s.default)}")
    return "\n".join(lines) + "\n"

"""Load and validate `meiyu.toml`, with `MEIYU_*` environment overrides.

Indicators and sources are data: a bureau adds its own by editing the file. Every
error names the key and what was expected, so `meiyu config check` can be one line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kernel.errors import ConfigError, UserError, redact
from kernel.sources import source_kind

DEFAULT_CONFIG_NAME = "meiyu.toml"
ENV_PREFIX = "MEIYU_"
# Variables that are not config keys (they select the file or belong to tests).
_ENV_NOT_KEYS = {"MEIYU_CONFIG"}
_ENV_SHORTCUTS = {"MEIYU_DATABASE_URL": ("database", "url"), "MEIYU_REDIS_URL": ("redis", "url")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "US" is a folder
        raise ValueError(f"an IANA time zone such as 'Asia/Shanghai', got {name!r}") from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
# Indicator keys name output files (meiyu-brief-<key>-<week>.html): no path characters.
IndicatorKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]


class DatabaseConfig(_Strict):
    url: str = "sqlite:///data/meiyu.db"
    # A PostgreSQL connection lost during a run: each unit of work waits this long for the
    # server (a restart) and runs again, then the command stops in one line.
    retry_seconds: float = Field(default=60.0, ge=0)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(f"a sqlite:/// or postgresql:// URL, got {url.split(':', 1)[0]!r}://")
        return url


class RedisConfig(_Strict):
    url: str = "redis://127.0.0.1:6379/0"
    # Shared crawls (crawl.backend = "redis") keep their keys under this prefix.
    key_prefix: str = Field(default="meiyu", pattern=r"^[A-Za-z0-9_.:-]+$")
    # While Redis is unreachable a worker retries this many times, waiting retry_seconds
    # doubled each time (at most a minute), then exits 1.
    connect_retries: int = Field(default=5, ge=0, le=100)
    retry_seconds: float = Field(default=2.0, ge=0)
    # A crawl worker not heard from for this long is dead: its unfinished requests go back
    # to the shared queue.
    worker_lease_seconds: float = Field(default=30.0, ge=1)


class CrawlConfig(_Strict):
    user_agent: str = "meiyu/0.1 (media-reputation monitor; +https://example.org/meiyu)"
    concurrent_requests: int = Field(default=8, ge=1, le=256)
    download_delay: float = Field(default=0.25, ge=0)
    obey_robots_txt: bool = True
    retry_times: int = Field(default=2, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=2.0, ge=0)  # doubled on each retry
    per_domain_concurrency: int = Field(default=2, ge=1, le=64)  # politeness per host
    timeout_seconds: int = Field(default=30, ge=1)
    # Route every request through this HTTP proxy (the demo uses it to serve its fixture world).
    proxy: str | None = None
    # Search sources look back this many days when no --since is given.
    window_days: int = Field(default=30, ge=1)
    # Folder for Scrapy's JOBDIR (resumable crawls) and the development HTTP cache.
    jobs_dir: str | None = None
    http_cache: bool = False
    # Fetch articles again that are already stored (to catch edits); off: re-crawls are cheap.
    refetch_known: bool = False
    # "local": one process keeps the frontier (JOBDIR). "redis": `meiyu crawl --worker` on one
    # or many machines share each source's queue and seen-set in Redis ([redis] url).
    backend: Literal["local", "redis"] = "local"


def _check_kind(name: str) -> str:
    source_kind(name)  # ValueError listing the kinds of kernel.sources
    return name


# One of kernel.sources.SOURCE_KINDS (the table of kinds is kept there, not here).
SourceKindName = Annotated[str, AfterValidator(_check_kind)]


class SourceConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: SourceKindName
    language: Literal["zh", "ko"]
    outlet: str
    # Outlet kinds: the outlet's feed or sitemap URLs. Search kinds run the indicators' queries.
    feeds: list[str] = []
    # Search kinds: the engine's address (default: the real one); tests point it elsewhere.
    base_url: str | None = None
    # Search kinds: which indicators' queries to run (default: all in the source's language).
    indicators: list[str] | None = None
    # Time zone assumed for dates that carry none (feeds often omit it).
    timezone: TimeZoneName = "Asia/Shanghai"
    follow_articles: bool = True
    max_feed_pages: int = Field(default=50, ge=1)
    max_pages: int = Field(default=10, ge=1)  # search result pages per query and window slice
    slice_days: int = Field(default=31, ge=1)  # window slice for engines that cap results
    # Seconds between requests to this source (its terms of use), one at a time; default:
    # crawl.download_delay with AutoThrottle.
    download_delay: float | None = Field(default=None, ge=0)
    # Hours between scheduled crawls of this source; default: schedule.crawl_every_hours.
    crawl_every_hours: int | None = Field(default=None, ge=1)

    @field_validator("feeds", "base_url")
    @classmethod
    def _http_urls(cls, value: list[str] | str | None) -> list[str] | str | None:
        for url in [value] if isinstance(value, str) else value or []:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"http(s) URLs, got {url!r}")
        return value

    @model_validator(mode="after")
    def _feeds_for_outlet_kinds(self) -> SourceConfig:
        if source_kind(self.kind).outlet and not self.feeds:
            raise ValueError(f"feeds: a {self.kind} source needs at least one URL")
        return self


class IndicatorConfig(_Strict):
    """One indicator of the plan: which items count, and what is reported per period."""

    name: str
    definition: str  # the plan's own wording, quoted in reports
    language: Literal["zh", "ko"]
    kind: Literal["volume", "positive_share"]
    # Every group must match; within a group any one term is enough.
    all_of: list[list[str]] = Field(min_length=1)
    sources: list[str] | None = None  # None: every source in the indicator's language
    # Name forms too ambiguous for the literal count (Korean bare 위해 = for / harm / Weihai):
    # they count only where the language analyser reads them as the place.
    ambiguous: list[str] = []
    # positive_share: a Hugging Face model id or local path (default: the shipped model of
    # the indicator's language, nlp/models/<lang>-sentiment).
    sentiment_model: str | None = None
    # What search sources are asked; default: the first term of each group, space-joined,
    # or, for a single group, each of its terms (the name forms of a place).
    queries: list[str] | None = None
    baseline: str = "2020"

    def search_queries(self) -> list[str]:
        if self.queries:
            return list(self.queries)
        if len(self.all_of) == 1:
            return list(self.all_of[0])
        return [" ".join(group[0] for group in self.all_of)]

    @field_validator("all_of")
    @classmethod
    def _non_empty_terms(cls, groups: list[list[str]]) -> list[list[str]]:
        for group in groups:
            if not group or any(not term.strip() for term in group):
                raise ValueError("non-empty lists of non-empty terms")
        return groups

    def version(self) -> str:
        """Short hash of everything that changes what is counted: a new hash is a new series."""
        payload = self.model_dump(include={"language", "kind", "all_of", "sources"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


class NlpConfig(_Strict):
    """The analysis stage (`meiyu analyze`): where the sentiment model runs and how much it
    scores between commits (a killed run resumes after the last committed batch)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when torch sees a GPU
    threads: int = Field(default=0, ge=0)  # torch CPU threads; 0: OMP_NUM_THREADS, else every core
    batch_size: int = Field(default=256, ge=1)  # documents scored and committed together
    # Who reads a bare 위해 as the city (nlp.korean): Kiwi (measured better, pip-only) or
    # konlpy's Okt with context rules (starts a JVM); figures in nlp/data/relevance_eval.json.
    korean_analyser: Literal["kiwi", "okt"] = "kiwi"


class ReportConfig(_Strict):
    title: str = "威海城市国际化 · 媒体美誉度月报"
    trend_months: int = Field(default=24, ge=2, le=120)


class ScheduleConfig(_Strict):
    """The unattended service (`meiyu schedule`): when each job fires, in `timezone`.

    Cron lines have 5 fields, weekdays as cron counts them (0 or 7 = Sunday, or mon…sun);
    an empty string turns that job off.
    """

    timezone: TimeZoneName = "Asia/Shanghai"
    crawl_every_hours: int = Field(default=6, ge=1)  # each source, then `meiyu analyze`
    compute: str = "30 2 * * *"  # then `meiyu alerts run`
    monthly_report: str = "0 8 1 * *"  # for the previous month
    weekly_brief: str = "0 8 * * mon"  # for the previous ISO week
    # How a step is launched, followed by its `meiyu` arguments; default: this Python's
    # `-m meiyu.cli`. Children get MEIYU_CONFIG and MEIYU_JOB_RUN_ID in their environment.
    command: list[str] | None = Field(default=None, min_length=1)
    # On SIGTERM the running step gets SIGTERM, then SIGKILL after this many seconds.
    stop_grace_seconds: float = Field(default=30.0, ge=0)
    # A run whose scheduler sent no heartbeat for this long is taken as abandoned.
    stale_after_minutes: float = Field(default=30.0, ge=1)

    @field_validator("compute", "monthly_report", "weekly_brief")
    @classmethod
    def _cron(cls, expr: str) -> str:
        from kernel.cron import cron_trigger

        if expr.strip():
            cron_trigger(expr, "UTC")
        return expr


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A meiyu.toml is a few KB. tomllib spends time and memory quadratic in a dotted key's depth
# (a.a.a… 20,000 deep: seconds; 100,000: out of memory), so such keys are refused first.
MAX_CONFIG_BYTES = 1024 * 1024
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"\n]{0,200}\"|'[^'\n]{0,200}')"
_DEEP_KEY = re.compile(rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{32}}")


class ChannelConfig(_Strict):
    """Where alerts go. Secrets (robot URLs carry their key, SMTP passwords) are never in the
    file: the `*_env` keys name the environment variables that hold them."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["webhook", "wecom", "dingtalk", "email"]
    url_env: str | None = None  # webhook, wecom, dingtalk
    secret_env: str | None = None  # dingtalk robots with 加签 (signed URLs)
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False  # upgrade a plain connection (port 587)
    smtp_ssl: bool = False  # TLS from the start (port 465, e.g. QQ and 163 mail)
    username_env: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: list[str] = []
    timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _keys_for_kind(self) -> ChannelConfig:
        # Checked here, not per field, so a URL pasted into url_env is never echoed back.
        for key in ("url_env", "secret_env", "username_env", "password_env"):
            value = getattr(self, key)
            if value is not None and not re.fullmatch(_ENV_NAME, value):
                raise ValueError(
                    f"{key} to be the NAME of an environment variable (e.g. WECOM_ROBOT_URL), "
                    "not the secret itself"
                )
        if self.kind == "email":
            if not (self.smtp_host and self.sender and self.recipients):
                raise ValueError("smtp_host, sender and recipients for an email channel")
        elif not self.url_env:
            raise ValueError(f"url_env for a {self.kind} channel")
        if self.secret_env and self.kind != "dingtalk":
            raise ValueError("secret_env on dingtalk channels only")
        if self.starttls and self.smtp_ssl:
            raise ValueError("starttls or smtp_ssl, not both")
        return self


class AlertsConfig(_Strict):
    """舆情预警 thresholds (pipelines/alerts/detect.py states the rules) and delivery channels."""

    window_days: int = Field(default=28, ge=7)  # trailing days behind a day's expectation
    floor_per_window: float = Field(default=1.0, gt=0)  # λ ≥ this many items per window
    alpha: float = Field(default=0.001, gt=0, lt=1)  # Poisson tail for spikes and surges
    negative_min_count: int = Field(default=3, ge=1)
    volume_min_count: int = Field(default=5, ge=1)
    merge_days: int = Field(default=7, ge=0)  # alerting days this close are one episode
    share_weeks: int = Field(default=8, ge=1)
    share_min_items: int = Field(default=10, ge=1)
    share_min_drop: float = Field(default=0.15, ge=0, le=1)
    share_alpha: float = Field(default=0.01, gt=0, lt=1)
    message_items: int = Field(default=10, ge=0)  # items listed in a message
    # Alerts about periods that ended longer ago are stored but not sent (a backfill of past
    # years raises history, not pages); 0 sends alerts of any age.
    deliver_max_age_days: int = Field(default=30, ge=0)
    channels: list[ChannelConfig] = []

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, channels: list[ChannelConfig]) -> list[ChannelConfig]:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError("channels with unique names")
        return channels


class Config(_Strict):
    timezone: TimeZoneName = "Asia/Shanghai"
    data_dir: str = "data"
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    crawl: CrawlConfig = CrawlConfig()
    report: ReportConfig = ReportConfig()
    nlp: NlpConfig = NlpConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    alerts: AlertsConfig = AlertsConfig()
    sources: list[SourceConfig] = []
    indicators: dict[IndicatorKey, IndicatorConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        names = [s.name for s in self.sources]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"sources: names must be unique, {sorted(dupes)} repeated")
        for key, ind in self.indicators.items():
            for src in ind.sources or []:
                if src not in names:
                    raise ValueError(f"indicators.{key}.sources: unknown source {src!r}")
        for src_cfg in self.sources:
            for key in src_cfg.indicators or []:
                if key not in self.indicators:
                    raise ValueError(f"sources.{src_cfg.name}.indicators: unknown {key!r}")
        return self

    def queries_for(self, source: SourceConfig) -> list[tuple[str, str]]:
        """(indicator, query text) pairs a search source runs."""
        keys = source.indicators or [
            k for k, ind in self.indicators.items() if ind.language == source.language
        ]
        return [(k, q) for k in keys for q in self.indicators[k].search_queries()]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"unknown source {name!r} (known: {known})")

    def indicator(self, key: str) -> IndicatorConfig:
        if key not in self.indicators:
            raise ConfigError(f"unknown indicator {key!r} (known: {', '.join(self.indicators)})")
        return self.indicators[key]


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--config`, else $MEIYU_CONFIG, else ./meiyu.toml."""
    if explicit:
        return Path(explicit)
    if os.environ.get("MEIYU_CONFIG"):
        return Path(os.environ["MEIYU_CONFIG"])
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Read, override from the environment, validate; any problem is one ConfigError line."""
    cfg_path = find_config_path(path)
    try:
        if cfg_path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{cfg_path}: over {MAX_CONFIG_BYTES:,} bytes, not a meiyu config")
        text = cfg_path.read_text(encoding="utf-8")
        if _DEEP_KEY.search(text):
            raise ConfigError(f"{cfg_path}: a dotted key nested more than 32 levels deep")
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {cfg_path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{cfg_path}: is a folder, not a config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{cfg_path}: not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"{cfg_path}: arrays or tables nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"{cfg_path}: cannot be read ({exc.strerror})") from None
    return config_from_dict(raw, env=os.environ if env is None else env, origin=str(cfg_path))


def config_from_dict(
    raw: dict[str, Any], env: Mapping[str, str] | None = None, origin: str = "config"
) -> Config:
    try:
        data = json.loads(json.dumps(raw, default=str))  # deep copy; TOML dates become strings
    except RecursionError:
        raise ConfigError(f"{origin}: arrays or tables nested too deeply") from None
    for name, value in sorted((env or {}).items()):
        if name.startswith(ENV_PREFIX) and name not in _ENV_NOT_KEYS:
            _apply_env(data, name, value)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe(exc)}") from None


def _apply_env(data: dict[str, Any], name: str, value: str) -> None:
    if name in _ENV_SHORTCUTS:
        path: tuple[str, ...] = _ENV_SHORTCUTS[name]
    elif "__" in name:
        # MEIYU_CRAWL__CONCURRENT_REQUESTS=4 -> crawl.concurrent_requests
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
    else:
        return  # other MEIYU_* variables (e.g. test settings) are not config keys
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{name}: {'.'.join(path)} is not a table in the config")
    node[path[-1]] = _env_value(value)


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    else:
        text = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
        msg = "expected " + text.removeprefix("expected ")
        if "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    line = f"{where}: {msg}{more}".replace("\r", "\\r").replace("\n", "\\n")  # a key's \n
    return redact(line)  # a rejected database URL may carry its password


def parse_month(text: str) -> tuple[int, int]:
    """'2023-12' -> (2023, 12); a UserError line otherwise."""
    try:
        d = dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise UserError(f"--month: expected YYYY-MM such as 2023-12, got {text!r}") from None
    return d.year, d.month

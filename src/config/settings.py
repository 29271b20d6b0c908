"""Settings: built once at each entry point from the environment and `.env`, passed down."""

from __future__ import annotations

import codecs
import os
import re
import sys
import time as time_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from src.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

BACKUP_TYPES = ("daily", "weekly", "manual", "emergency")  # what `backup --type` makes
# the copy of the live database a restore (or repair --apply) makes first: its own folder
# and retention, never `latest`, never counted with the others
PRE_RESTORE = "pre-restore"
ARCHIVE_TYPES = (*BACKUP_TYPES, PRE_RESTORE)  # every kind of archive in BACKUP_DIR
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_TELEGRAM_API = "https://api.telegram.org"
DEFAULT_CONFIG_FILES = ("src/config/settings.py", "requirements.txt")
DEFAULT_DATA_FILES = ("data/quotes.json", "data/tips.json")
SETTING_NAMES = (
    "DATABASE_PATH",
    "BACKUP_DIR",
    "RECOVERY_DIR",
    "LOG_DIR",
    "RETENTION_DAILY",
    "RETENTION_WEEKLY",
    "RETENTION_MANUAL",
    "RETENTION_EMERGENCY",
    "RETENTION_PRE_RESTORE",
    "RECOVERY_RETENTION_DAYS",
    "BACKUP_TIMEZONE",
    "DAILY_BACKUP_TIME",
    "WEEKLY_BACKUP_DAY",
    "WEEKLY_BACKUP_TIME",
    "ADMIN_USER_IDS",
    "BOT_TOKEN",
    "TELEGRAM_API_URL",
    "COMPRESSION_LEVEL",
    "CONFIG_FILES",
    "DATA_FILES",
    "LOG_MAX_AGE_DAYS",
    "BACKUP_LOCK_TIMEOUT",
    "MIN_FREE_MB",
    "SCHEDULER_RETRIES",
    "SCHEDULER_RETRY_MINUTES",
    "STALE_GRACE_HOURS",
    "BOT_RUN_SCHEDULER",
    "BOT_UPLOAD_LIMIT_MB",
    "OFFSITE_TARGETS",
    "OFFSITE_ENCRYPT_TO",
    "AGE_IDENTITY_FILE",
    "OFFSITE_PLAINTEXT",
    "OFFSITE_TYPES",
    "OFFSITE_RETENTION_DAILY",
    "OFFSITE_RETENTION_WEEKLY",
    "OFFSITE_RETENTION_MANUAL",
    "OFFSITE_RETENTION_EMERGENCY",
    "OFFSITE_STALE_HOURS",
    "NOTIFY_URLS",
    "HEALTHCHECK_URL",
    "REPLICA_URL",
    "REPLICA_ENDPOINT",
    "REPLICA_RETENTION",
    "REPLICA_SYNC_INTERVAL",
    "REPLICA_MAX_LAG",
    "REPLICA_CA_BUNDLE",
)
# `restore --from replica` names the Litestream replica: no off-machine target may be so named
REPLICA_SOURCE = "replica"
REPLICA_SCHEMES = ("s3", "file", "sftp", "gs", "abs", "webdav", "webdavs", "nats", "oss")
# the environment Litestream reads its credentials from (also when set in .env)
_REPLICA_ENV = re.compile(r"^(AWS_|LITESTREAM_|GOOGLE_|AZURE_|ALIBABA_CLOUD_)", re.I)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_ENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")


class LocalTimezone(tzinfo):
    """The machine's zone, asked anew for each moment so daylight saving changes count."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        """Return the local offset from UTC at the local time `dt`."""
        return timedelta(seconds=self._local(dt).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta:
        """Return the daylight saving part of the offset at `dt`."""
        local = self._local(dt)
        if local.tm_isdst <= 0:
            return timedelta(0)
        return timedelta(seconds=time_module.timezone - time_module.altzone)

    def tzname(self, dt: datetime | None) -> str:
        """Return the zone's abbreviation at `dt`."""
        return self._local(dt).tm_zone

    def fromutc(self, dt: datetime) -> datetime:
        """Convert a UTC time (tagged with this zone) to local time."""
        stamp = (dt.replace(tzinfo=None) - _EPOCH).total_seconds()
        offset = timedelta(seconds=time_module.localtime(stamp).tm_gmtoff)
        return dt + offset

    @staticmethod
    def _local(dt: datetime | None) -> time_module.struct_time:
        if dt is None:
            return time_module.localtime()
        fields = (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, 0, 0, -1)
        return time_module.localtime(time_module.mktime(fields))  # the C library decides DST

    def __repr__(self) -> str:
        return "LocalTimezone()"


_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: seconds since the epoch
_TARGET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


@dataclass(frozen=True)
class OffsiteTarget:
    """One off-machine destination: a name of ours and where it is (rclone remote or folder)."""

    name: str
    destination: str = field(repr=False)  # an rclone connection string may hold a secret


@dataclass(frozen=True)
class OffsiteSettings:
    """Where verified archives are copied, encrypted to whom, and how many are kept there."""

    targets: tuple[OffsiteTarget, ...] = ()
    recipients: tuple[str, ...] = ()  # age or SSH public keys
    identity_file: Path | None = None
    plaintext: bool = False
    types: frozenset[str] = frozenset(("daily", "weekly", "manual", "emergency"))
    retention: Mapping[str, int] = field(default_factory=dict)
    stale_hours: int = 26
    # RCLONE_* from the environment and `.env` (rclone's own settings; may hold secrets)
    rclone_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def encrypted(self) -> bool:
        """Tell whether copies are age files (recipients are set)."""
        return bool(self.recipients)

    @property
    def enabled(self) -> bool:
        """Tell whether anything is copied: targets, and recipients or an explicit plaintext yes."""
        return bool(self.targets) and (self.encrypted or self.plaintext)

    def target(self, name: str) -> OffsiteTarget | None:
        """Return the target of that name, if configured."""
        return next((t for t in self.targets if t.name == name), None)


@dataclass(frozen=True)
class ReplicaSettings:
    """Continuous replication through Litestream (REPLICA_*); empty url: none."""

    url: str = field(default="", repr=False)  # sftp://user:password@... may hold a secret
    endpoint: str = ""
    retention: timedelta = timedelta(hours=72)
    sync_interval: timedelta = timedelta(seconds=1)
    max_lag: timedelta = timedelta(minutes=5)
    ca_bundle: Path | None = None  # the only CA bundle Litestream is given
    # AWS_*, LITESTREAM_*, ... from .env (the environment's reach Litestream anyway)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        """Tell whether the database is replicated."""
        return bool(self.url)

    @property
    def scheme(self) -> str:
        """The replica's kind: s3, file, sftp, ..."""
        return self.url.partition("://")[0].lower()

    def describe(self) -> str:
        """Where the replica is, without a password a URL may hold."""
        return re.sub(r"//[^/@]*@", "//", self.url)


@dataclass(frozen=True)
class Settings:
    """Every setting of the tool; paths are absolute."""

    project_root: Path
    database_path: Path
    backup_dir: Path
    recovery_dir: Path
    log_dir: Path
    retention: Mapping[str, int]
    recovery_retention_days: int  # reports and exports in recovery_dir; 0 keeps them forever
    timezone: tzinfo
    timezone_name: str
    daily_backup_time: time
    weekly_backup_day: str
    weekly_backup_time: time
    admin_user_ids: frozenset[int]
    bot_token: str | None = field(repr=False)
    telegram_api_url: str
    compression_level: int
    config_files: tuple[str, ...]
    data_files: tuple[str, ...]
    log_max_age_days: int
    lock_timeout: float
    min_free_mb: int
    scheduler_retries: int = 3
    scheduler_retry_minutes: int = 5
    stale_grace_hours: int = 2
    bot_run_scheduler: bool = True
    bot_upload_limit_mb: int = 50
    offsite: OffsiteSettings = field(default_factory=OffsiteSettings)
    notify_urls: tuple[str, ...] = field(default=(), repr=False)  # may hold tokens
    healthcheck_url: str | None = field(default=None, repr=False)
    replica: ReplicaSettings = field(default_factory=ReplicaSettings)

    def type_dir(self, backup_type: str) -> Path:
        """Return the folder of one backup type."""
        return self.backup_dir / backup_type

    @property
    def history_path(self) -> Path:
        """Return the path of the backup history database."""
        return self.backup_dir / "history.sqlite3"

    def now(self) -> datetime:
        """Return the current time in the backup time zone."""
        return datetime.now(self.timezone)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes.

    Raises:
        ConfigError: the file cannot be read, or a line is not UTF-8 or not KEY=VALUE; the
            message names the file and the line (never a value: it may be the bot token).
    """
    values: dict[str, str] = {}
    for number, data in enumerate(_env_file_lines(path), start=1):
        if not data.strip() or data.lstrip().startswith(b"#"):
            continue  # a comment in another encoding harms nothing
        line = _decode_env_line(path, number, data).strip()
        match = _ENV_LINE.match(line)
        if not match:
            raise ConfigError(f"{path}:{number}: {_not_a_setting(line)}")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def _env_file_lines(path: Path) -> list[bytes]:
    """Return the lines of a `.env` file as bytes, without a UTF-8 BOM ([] when none exists)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except IsADirectoryError:
        raise ConfigError(
            f"{path} is a folder, not a settings file: the settings are read from a file of "
            "KEY=VALUE lines at that place; rename or remove the folder"
        ) from None
    except OSError as error:
        raise ConfigError(
            f"{path} cannot be read ({error.strerror or error}): give this user read access "
            "to it, or remove it"
        ) from None
    return data.removeprefix(codecs.BOM_UTF8).splitlines()


def _decode_env_line(path: Path, number: int, data: bytes) -> str:
    """Decode one line as UTF-8, naming the line and at most its key when it is not text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:  # NULs: saved as UTF-16 ("Unicode")
        return text
    key = _key_of(data.decode("utf-8", errors="replace"))
    where = f" (the line of {key})" if key else ""
    raise ConfigError(
        f"{path}:{number}{where} is not UTF-8 text: save the file with the UTF-8 encoding"
    )


def _not_a_setting(line: str) -> str:
    """Say why a line is no setting, naming at most its key (the line may be a secret)."""
    key = _key_of(line)
    if key:
        return f"the line of {key} is not KEY=VALUE: write it as {key}=value"
    return "this line is not KEY=VALUE (nor a # comment): write settings as NAME=value"


def _key_of(line: str) -> str | None:
    """Return the key a line sets, or a known setting's name it starts with, else None."""
    match = _ENV_KEY.match(line)
    if match:
        return match[1]
    word = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)", line)
    if word and word[1].upper() in SETTING_NAMES:  # only names of ours: never a value
        return word[1].upper()
    return None


def split_targets(raw: str) -> list[tuple[str, str]]:
    """Split `a=dest,b=dest` into pairs; a comma inside an rclone connection string's options
    (`:s3,provider=AWS,region=x:bucket`, `remote,opt=v:path`, quoted values) stays in it."""
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(raw):
        label, equals, _ = raw[position:].partition("=")
        if not equals:
            if label.strip():
                pairs.append((label.strip(), ""))
            break
        start = position + len(label) + 1
        end = _destination_end(raw, start)
        pairs.append((label.strip().lstrip(","), raw[start:end].strip()))
        position = end + 1
    return [(label, dest) for label, dest in pairs if label or dest]


def rclone_colon(text: str, start: int = 0) -> int:
    """Return the index of the first ':' at or after `start` outside quotes (an rclone
    remote's options, `name,opt="a:b":path`, end there), or len(text) when there is none."""
    index, quote = start, ""
    while index < len(text):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ":":
            return index
        index += 1
    return len(text)


def _destination_end(raw: str, start: int) -> int:
    """Return where a destination starting at `start` ends (the comma after it, or the end)."""
    head = re.match(r"\s*(?::[\w.-]+|[\w.-][\w.\- ]*),", raw[start:])
    index = rclone_colon(raw, start + 1) if head else start
    comma = raw.find(",", index)
    return len(raw) if comma < 0 else comma


class _Reader:
    """Read typed values from merged sources, naming the variable on error."""

    def __init__(self, values: Mapping[str, str], root: Path) -> None:
        self.values = values
        self.root = root

    def text(self, name: str, default: str) -> str:
        value = self.values.get(name, "").strip()
        return value or default

    def path(self, name: str, default: str) -> Path:
        raw = Path(self.text(name, default)).expanduser()
        return (raw if raw.is_absolute() else self.root / raw).resolve()

    def folder(self, name: str, default: str) -> Path:
        """A folder the tool writes in: it, or what of it exists, must be folders."""
        path = self.path(name, default)
        for part in (path, *path.parents):
            if part.exists():
                if not part.is_dir():
                    what = "is a file" if part == path else f"cannot be a folder: {part} is a file"
                    raise ConfigError(
                        f"{name}={path} {what}. Point {name} at a folder (it is made if it "
                        "does not exist), or move that file away."
                    )
                break
        return path

    def database(self, name: str, default: str) -> Path:
        """The database file: anything but a folder (a missing one is reported later)."""
        path = self.path(name, default)
        if path.is_dir():
            raise ConfigError(
                f"{name}={path} is a folder; point {name} at the bot's database file in it."
            )
        return path

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name}={value} must be between {minimum} and {maximum}")
        return value

    def clock_time(self, name: str, default: str) -> time:
        raw = self.text(name, default)
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ConfigError(f"{name}={raw!r} must be a time of day as HH:MM, e.g. 03:00")
        return time(int(match[1]), int(match[2]))

    def weekday(self, name: str, default: str) -> str:
        raw = self.text(name, default).lower()
        if raw not in WEEKDAYS:
            raise ConfigError(f"{name}={raw!r} must be one of {', '.join(WEEKDAYS)}")
        return raw

    def id_set(self, name: str) -> frozenset[int]:
        raw = self.text(name, "")
        ids: set[int] = set()
        for part in re.split(r"[,\s]+", raw):
            if not part:
                continue
            if not re.fullmatch(r"-?\d+", part):
                raise ConfigError(
                    f"{name} must be Telegram user ids separated by commas; {part!r} is not one"
                )
            ids.add(int(part))
        return frozenset(ids)

    def file_list(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if name not in self.values:
            return default
        return tuple(part.strip() for part in self.values[name].split(",") if part.strip())

    def zone(self, name: str) -> tuple[tzinfo, str]:
        raw = self.text(name, "")
        if not raw:
            return LocalTimezone(), "local time"
        try:
            return ZoneInfo(raw), raw
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{name}={raw!r} is not a known time zone, e.g. Asia/Jakarta"
            ) from None

    def url(self, name: str, default: str) -> str:
        raw = self.text(name, default).rstrip("/")
        if not re.match(r"^https?://[^/\s]+", raw):
            raise ConfigError(f"{name}={raw!r} must be an http(s) URL")
        return raw

    def secret_url(self, name: str) -> str | None:
        """An optional http(s) URL that may be a secret (never echoed)."""
        raw = self.text(name, "")
        if raw and not re.match(r"^https?://[^/\s]+\S*$", raw):
            raise ConfigError(f"{name} must be an http(s) URL, e.g. https://hc-ping.com/<uuid>")
        return raw.rstrip("/") or None

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name, "true" if default else "false").lower()
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} must be true or false")

    def targets(self, name: str) -> tuple[OffsiteTarget, ...]:
        """NAME=DESTINATION pairs separated by commas (never echo a destination: secrets)."""
        targets: list[OffsiteTarget] = []
        for number, (label, destination) in enumerate(split_targets(self.text(name, "")), 1):
            if not destination:
                raise ConfigError(
                    f"{name}: entry {number} is not NAME=DESTINATION; write e.g. "
                    f"{name}=cloud=r2:pmo-backups/bot1,usb=/mnt/usb/pmo"
                )
            if not _TARGET_NAME.fullmatch(label):
                raise ConfigError(
                    f"{name}: entry {number}: a target's name is a letter followed by up to 31 "
                    "letters, digits, '-' or '_' (e.g. cloud, usb)"
                )
            if label.lower() == REPLICA_SOURCE:
                raise ConfigError(
                    f"{name}: entry {number}: the name {label!r} is reserved (`restore --from "
                    "replica` restores from the Litestream replica, REPLICA_URL); name the "
                    "target otherwise"
                )
            if any(t.name == label for t in targets):
                raise ConfigError(f"{name}: the target name {label!r} is used twice")
            chat = destination.removeprefix("telegram:")
            if chat != destination and not _TELEGRAM_CHAT.fullmatch(chat.strip()):
                raise ConfigError(
                    f"{name}: entry {number}: a Telegram target is telegram:CHAT_ID, a number "
                    "such as -1001234567890 or @channelname"
                )
            if chat != destination and not self.values.get("BOT_TOKEN", "").strip():
                raise ConfigError(
                    f"{name}: entry {number} sends to Telegram: set BOT_TOKEN (the bot must be "
                    "in the chat; in a channel, an admin that may post)"
                )
            targets.append(OffsiteTarget(label, destination))
        return tuple(targets)

    def recipients(self, name: str) -> tuple[str, ...]:
        """age or SSH public keys separated by commas, or @file with one a line."""
        from src.config.age_keys import check_recipient  # pyrage parses them

        raw = self.text(name, "")
        if raw.startswith("@"):
            source = Path(raw[1:].strip()).expanduser()
            source = source if source.is_absolute() else self.root / source
            try:
                text = source.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigError(
                    f"{name}: cannot read the recipients file {source} ({error}); write one "
                    "public key a line (age1... or ssh-ed25519 ...) in a UTF-8 file"
                ) from None
            keys = [line.strip() for line in text.splitlines()]
        else:
            keys = [part.strip() for part in raw.split(",")]
        keys = [key for key in keys if key and not key.startswith("#")]
        for number, key in enumerate(keys, start=1):
            problem = check_recipient(key)
            if problem:
                raise ConfigError(f"{name}: recipient {number} {problem}")
        if raw.startswith("@") and not keys:
            raise ConfigError(f"{name}: {raw[1:]} holds no public key")
        return tuple(keys)

    def optional_file(self, name: str) -> Path | None:
        raw = self.text(name, "")
        return self.path(name, raw) if raw else None

    def types(self, name: str, default: tuple[str, ...]) -> frozenset[str]:
        chosen = frozenset(p.strip().lower() for p in self.text(name, ",".join(default)).split(","))
        chosen -= {""}
        unknown = sorted(chosen - set(BACKUP_TYPES))
        if unknown:
            raise ConfigError(
                f"{name}: {', '.join(unknown)} is no backup type; use some of "
                f"{', '.join(BACKUP_TYPES)}"
            )
        return chosen

    def apprise_urls(self, name: str) -> tuple[str, ...]:
        """Apprise URLs separated by commas (or spaces); each must be one Apprise knows."""
        urls = tuple(part for part in re.split(r"[,\s]+", self.text(name, "")) if part)
        if urls:
            import apprise

            for number, url in enumerate(urls, start=1):
                if not apprise.Apprise().add(url):  # never echo it: it may hold a token
                    raise ConfigError(
                        f"{name}: entry {number} is not an Apprise URL it knows (e.g. "
                        "ntfys://ntfy.sh/topic, mailtos://user:pass@host, json://host/path); "
                        "see https://github.com/caronc/apprise/wiki"
                    )
        return urls

    def duration(self, name: str, default: str, minimum: timedelta) -> timedelta:
        """A Go-style duration as Litestream writes them: 72h, 1s, 500ms, 1h30m."""
        raw = self.text(name, default).lower()
        parts = _DURATION.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise ConfigError(f"{name}={raw!r} is not a duration: write e.g. 72h, 30m, 1s or 500ms")
        unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
        value = timedelta(seconds=sum(float(n) * unit[u] for n, u in parts))
        if value < minimum:
            raise ConfigError(f"{name}={raw} is too short: at least {go_duration(minimum)}")
        return value

    def replica_url(self, name: str, platform: str) -> str:
        """A Litestream replica URL (s3://bucket/path, file:///path, sftp://host/path ...)."""
        raw = self.text(name, "")
        if not raw:
            return ""
        if platform == "win32":
            raise ConfigError(
                f"{name} is set, but Litestream (continuous replication) has no Windows "
                f"build: remove {name} here, or run the bot and its scheduler on Linux or macOS"
            )
        scheme, sep, rest = raw.partition("://")
        if not sep or scheme.lower() not in REPLICA_SCHEMES or not rest.strip("/"):
            raise ConfigError(
                f"{name} must be a Litestream replica URL ({', '.join(REPLICA_SCHEMES[:5])}...),"
                " e.g. s3://bucket/bot1/db or file:///mnt/replica/bot1"
            )
        if scheme.lower() == "file" and not rest.startswith("/"):
            raise ConfigError(f"{name}: a file replica needs an absolute path: file:///path")
        return raw

    def token(self, name: str) -> str | None:
        raw = self.text(name, "")
        if raw and not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", raw):
            raise ConfigError(f"{name} does not look like a bot token from @BotFather (id:secret)")
        return raw or None


def go_duration(value: timedelta) -> str:
    """Write a duration as Litestream (Go) reads it: whole seconds, else milliseconds."""
    millis = round(value.total_seconds() * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def load_settings(
    environ: Mapping[str, str] | None = None,
    root: Path = PROJECT_ROOT,
    env_file: Path | None = None,
    platform: str = sys.platform,
) -> Settings:
    """Build the settings from `.env` in the project root, overridden by the environment.

    Args:
        environ: the environment to read (default: ``os.environ``).
        root: the folder relative paths are resolved against.
        env_file: the `.env` file to read (default: ``root / ".env"``).
        platform: the operating system (``sys.platform``); Windows refuses REPLICA_URL.

    Returns:
        The settings, with every path absolute.

    Raises:
        ConfigError: a value is invalid; the message names the variable.
    """
    merged = read_env_file(env_file or root / ".env")
    merged.update(os.environ if environ is None else environ)
    read = _Reader(merged, root)
    zone, zone_name = read.zone("BACKUP_TIMEZONE")
    api_url = read.url("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API)
    retention = {
        "daily": read.integer("RETENTION_DAILY", 7, 1, 10_000),
        "weekly": read.integer("RETENTION_WEEKLY", 4, 1, 10_000),
        "manual": read.integer("RETENTION_MANUAL", 10, 1, 10_000),
        "emergency": read.integer("RETENTION_EMERGENCY", 3, 1, 10_000),
        PRE_RESTORE: read.integer("RETENTION_PRE_RESTORE", 5, 1, 10_000),
    }
    return Settings(
        project_root=root,
        database_path=read.database("DATABASE_PATH", "data/pmo_recovery.db"),
        backup_dir=read.folder("BACKUP_DIR", "backups"),
        recovery_dir=read.folder("RECOVERY_DIR", "recovery"),
        log_dir=read.folder("LOG_DIR", "logs"),
        retention=retention,
        recovery_retention_days=read.integer("RECOVERY_RETENTION_DAYS", 30, 0, 36_500),
        timezone=zone,
        timezone_name=zone_name,
        daily_backup_time=read.clock_time("DAILY_BACKUP_TIME", "03:00"),
        weekly_backup_day=read.weekday("WEEKLY_BACKUP_DAY", "sunday"),
        weekly_backup_time=read.clock_time("WEEKLY_BACKUP_TIME", "02:00"),
        admin_user_ids=read.id_set("ADMIN_USER_IDS"),
        bot_token=read.token("BOT_TOKEN"),
        telegram_api_url=api_url,
        compression_level=read.integer("COMPRESSION_LEVEL", 1, 0, 9),
        config_files=read.file_list("CONFIG_FILES", DEFAULT_CONFIG_FILES),
        data_files=read.file_list("DATA_FILES", DEFAULT_DATA_FILES),
        log_max_age_days=read.integer("LOG_MAX_AGE_DAYS", 30, 0, 3650),
        lock_timeout=float(read.integer("BACKUP_LOCK_TIMEOUT", 120, 0, 86_400)),
        min_free_mb=read.integer("MIN_FREE_MB", 50, 0, 10_000_000),
        scheduler_retries=read.integer("SCHEDULER_RETRIES", 3, 0, 20),
        scheduler_retry_minutes=read.integer("SCHEDULER_RETRY_MINUTES", 5, 1, 1440),
        stale_grace_hours=read.integer("STALE_GRACE_HOURS", 2, 0, 168),
        bot_run_scheduler=read.boolean("BOT_RUN_SCHEDULER", True),
        # Telegram's own servers take uploads up to 50 MB; a self-hosted Bot API server 2000 MB
        bot_upload_limit_mb=read.integer(
            "BOT_UPLOAD_LIMIT_MB",
            50 if api_url == DEFAULT_TELEGRAM_API else 2000,
            1,
            2000,
        ),
        offsite=_offsite(read, retention),
        notify_urls=read.apprise_urls("NOTIFY_URLS"),
        healthcheck_url=read.secret_url("HEALTHCHECK_URL"),
        replica=_replica(read, platform),
    )


def _replica(read: _Reader, platform: str) -> ReplicaSettings:
    """Read the REPLICA_* settings (checked even while REPLICA_URL is empty)."""
    endpoint = read.text("REPLICA_ENDPOINT", "").rstrip("/")
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise ConfigError(
            f"REPLICA_ENDPOINT={endpoint!r} must be an http(s) URL, e.g. "
            "https://<account>.r2.cloudflarestorage.com"
        )
    ca_bundle = read.optional_file("REPLICA_CA_BUNDLE")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(f"REPLICA_CA_BUNDLE={ca_bundle} is no file: point it at a PEM file")
    return ReplicaSettings(
        url=read.replica_url("REPLICA_URL", platform),
        endpoint=endpoint,
        retention=read.duration("REPLICA_RETENTION", "72h", timedelta(minutes=1)),
        sync_interval=read.duration("REPLICA_SYNC_INTERVAL", "1s", timedelta(milliseconds=100)),
        max_lag=read.duration("REPLICA_MAX_LAG", "5m", timedelta(seconds=1)),
        ca_bundle=ca_bundle,
        env={k: v for k, v in read.values.items() if _REPLICA_ENV.match(k)},
    )


_TELEGRAM_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")


def _offsite(read: _Reader, retention: Mapping[str, int]) -> OffsiteSettings:
    """Read the OFFSITE_* settings (retention defaults to the local one)."""
    return OffsiteSettings(
        targets=read.targets("OFFSITE_TARGETS"),
        recipients=read.recipients("OFFSITE_ENCRYPT_TO"),
        identity_file=read.optional_file("AGE_IDENTITY_FILE"),
        plaintext=read.boolean("OFFSITE_PLAINTEXT", False),
        types=read.types("OFFSITE_TYPES", BACKUP_TYPES),
        retention={
            kind: read.integer(f"OFFSITE_RETENTION_{kind.upper()}", retention[kind], 1, 10_000)
            for kind in BACKUP_TYPES
        },
        stale_hours=read.integer("OFFSITE_STALE_HOURS", 26, 1, 8760),
        rclone_env={k: v for k, v in read.values.items() if k.upper().startswith("RCLONE_")},
    )

"""Build a deterministic sample database and data files for the PMO Recovery Bot."""

import contextlib
import errno
import json
import logging
import os
import random
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from .schema import connect, create_database

logger = logging.getLogger(__name__)

T = TypeVar("T")

WIB = timezone(timedelta(hours=7))
_EPOCH = datetime(2024, 1, 1, 8, 0, tzinfo=WIB)
_HISTORY_DAYS = 540


def _listing(text: str) -> tuple[str, ...]:
    """Split a comma-separated listing into a tuple of stripped names."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


_FIRST_NAMES: tuple[str, ...] = _listing(
    "Budi, Siti, Dewi, Agus, Andi, Rizky, Fajar, Ahmad, Muhammad, Nur, Rina, "
    "Wahyu, Eko, Dian, Hendra, Indra, Yusuf, Rahmat, Putu, Made, Wayan, Ketut, "
    "Komang, Ni Made, I Gusti, Kadek, Joko, Bambang, Sri, Teguh, Arif, Dimas, "
    "Bayu, Galih, Ilham, Reza, Yoga, Aditya, Fikri, Hafiz, Lukman, Taufik, "
    "Yohanes, Stefanus, Markus, Daniel, Kevin, Raden, Teuku, Cut"
)
_LAST_NAMES: tuple[str, ...] = _listing(
    "Santoso, Nurhaliza, Lestari, Salim, Wijaya, Saputra, Pratama, Hidayat, "
    "Kurniawan, Setiawan, Gunawan, Nugroho, Siregar, Nasution, Harahap, "
    "Simanjuntak, Sitompul, Manurung, Sinaga, Tanjung, Lubis, Suryadi, Wibowo, "
    "Hakim, Ramadhan, Firmansyah, Maulana, Permana, Sudirman, Halim, Tan, "
    "O'Neil, Ayu Kusuma, Adnyana, Wirawan"
)
_TIMEZONES: tuple[str, ...] = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")

_NOTES: tuple[str, ...] = (
    "Hari ini berat, tapi aku tetap bertahan 💪",
    "Alhamdulillah, satu hari lagi bersih 🙏",
    "Bangun pagi, olahraga 20 menit, rasanya lebih segar ✨",
    "Urge level < kemarin & aku bangga sama diri sendiri 😊",
    'Ingat kata mentor: "satu hari pada satu waktu".',
    "Felt a strong urge after scrolling at night.\nPut the phone away, went walking.",
    "Day went well. Meditated for 10 minutes 🔥",
    "Stress kerja tinggi, tapi aku telepon teman & ngobrol. Membantu banget.",
    "Grateful for small wins today 🙏💪",
    "Tidur jam 10 malam, tanpa HP di kamar. It works!",
    "Rough morning <3 but I stayed on track.",
    "Ngaji & baca buku sebelum tidur 📖",
    "Not my best day, but I'm still here. That counts.",
    "Cuaca hujan, mood agak turun 🌧️ — tetap check-in!",
    "Week 2 done ✅ Keep going!",
    "Menulis jurnal\nmembantu aku memahami pemicu (trigger) ku.",
)
_TRIGGERS: tuple[str, ...] = _listing(
    "stress kerja, bosan, kesepian, begadang, media sosial, lelah, boredom, "
    "late-night scrolling, loneliness, anxiety, argument with family, "
    "sendirian di kamar, insomnia"
)
_REFLECTIONS: tuple[str, ...] = (
    "Aku sadar pemicunya begadang. Mulai besok HP di luar kamar jam 22:00.",
    "Relapse bukan akhir. Aku belajar sesuatu hari ini 🙏",
    "I was tired & lonely. Next time I'll message my accountability partner.",
    'Pelajaran: jangan bilang "sekali saja". Itu jebakan.',
    "Reset the counter, not the progress 💪✨",
    "Mau coba olahraga pagi supaya energi lebih stabil.",
    "Feeling ashamed, but shame doesn't help.\nSelf-compassion does.",
)
_JOURNAL_TITLES: tuple[str, ...] = (
    "Refleksi mingguan",
    "Hari ke-30 🎉",
    "Weekly reflection",
    "Rencana ke depan",
    "Apa yang aku syukuri",
    "Lessons & progress",
    "Catatan malam",
    "Why I started",
    "Surat untuk diriku di masa depan",
    "Small <wins>",
)
_JOURNAL_SENTENCES: tuple[str, ...] = (
    "Minggu ini aku lebih sadar kapan urge datang.",
    "Aku menemukan bahwa olahraga pagi membantu fokus 💪",
    "I noticed my urges peak around 11 pm, so I now read before bed.",
    "Bersyukur punya teman yang mau mendengar 🙏",
    "Progress isn't linear & that's okay.",
    'My therapist said: "notice the urge, name it, let it pass."',
    "Target bulan depan: 60 hari bersih 🔥",
    "Hari ini aku menolong tetangga — rasanya bermakna ✨",
    "Slept 8 hours. Energy < yesterday's anxiety, finally 😊",
    "Aku mulai belajar gitar untuk mengisi waktu luang.",
    "Doa dan meditasi membuat pikiran lebih tenang.",
    "Saya ingin menjadi ayah yang hadir untuk keluarga.",
)
_BADGES: tuple[str, ...] = _listing(
    "first_checkin, streak_7, streak_30, streak_90, streak_365, first_journal, comeback, early_bird"
)
_REMINDER_KINDS: tuple[str, ...] = _listing("morning_checkin, evening_reflection, weekly_review")
_EXTREME_CHAT_IDS: tuple[int, ...] = (
    2**63 - 1,
    -(2**63),
    2**63 - 2,
    -(2**63) + 1,
    -1001234567890123,
    0,
)
_BLOB_HEADERS: tuple[bytes, ...] = (
    b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00",  # voice note (Opus in Ogg)
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # image
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # photo
)

# (language, text) pairs for quotes.json.
_QUOTES: tuple[tuple[str, str], ...] = (
    ("id", "Setiap hari bersih adalah kemenangan kecil yang berarti. 💪"),
    ("id", "Jatuh bukan akhir cerita; bangkit adalah bagian dari perjalanan."),
    ("id", "Satu hari pada satu waktu. Fokus pada hari ini saja. 🙏"),
    ("id", "Kamu lebih kuat dari dorongan yang datang dan pergi."),
    ("id", "Disiplin adalah bentuk kasih sayang pada diri sendiri. ✨"),
    ("id", "Perubahan besar dimulai dari kebiasaan kecil yang konsisten."),
    ("id", "Tidak apa-apa meminta bantuan. Itu tanda keberanian."),
    ("id", "Rayakan kemajuanmu, sekecil apa pun itu. 🔥"),
    ("id", "Hari ini adalah kesempatan baru untuk memulai lagi. 😊"),
    ("id", "Pikiran yang tenang lahir dari kebiasaan yang sehat."),
    ("en", "Reset the counter, not the progress. 💪"),
    ("en", "Urges are like waves: notice them, ride them, let them pass."),
    ("en", "You don't have to be perfect; you have to keep going. 🔥"),
    ("en", "Every 'no' to an urge is a 'yes' to the life you want."),
    ("en", "Small steps every day add up to big changes. ✨"),
    ("en", "Be kind to yourself — recovery is a skill you are learning."),
    ("en", "Your worth is not defined by your worst day. 🙏"),
    ("en", "Progress, not perfection."),
    ("en", "Discipline is remembering what you want most. 😊"),
    ("en", "The best time to start was yesterday; the next best is now."),
)
# (language, category, text) triples for tips.json.
_TIPS: tuple[tuple[str, str, str], ...] = (
    ("id", "tidur", "Simpan HP di luar kamar saat tidur. 📵"),
    ("id", "olahraga", "Saat urge datang, lakukan 20 push-up. 💪"),
    ("id", "sosial", "Hubungi teman atau keluarga ketika merasa kesepian."),
    ("id", "pikiran", "Tarik napas 4 detik, tahan 7, hembuskan 8."),
    ("id", "rutinitas", "Buat jadwal harian agar waktu luang terisi hal positif."),
    ("id", "pemicu", "Catat pemicu (trigger) di jurnal & cari polanya."),
    ("id", "spiritual", "Luangkan waktu untuk doa atau meditasi tiap pagi. 🙏"),
    ("id", "digital", "Pasang pemblokir konten di semua perangkat."),
    ("id", "kesehatan", "Minum air yang cukup dan jalan kaki 30 menit sehari."),
    ("id", "relapse", "Setelah relapse, tulis refleksi — bukan hukuman diri."),
    ("en", "sleep", "Keep a fixed bedtime; late nights raise urges. 😴"),
    ("en", "exercise", "A cold shower or a brisk walk can break an urge. 🔥"),
    ("en", "social", "Find an accountability partner and check in daily."),
    ("en", "mind", "Try 'urge surfing': observe the urge for 10 minutes."),
    ("en", "routine", "Swap idle scrolling for a hobby: music, reading, sport."),
    ("en", "triggers", "Know your HALT signals: Hungry, Angry, Lonely, Tired."),
    ("en", "digital", "Turn off social media notifications after 9 pm."),
    ("en", "health", "Eat regular meals; low energy makes urges stronger."),
    ("en", "relapse", "After a slip, review what happened & plan one change. ✨"),
    ("en", "motivation", "Write down why you started; read it each morning. 😊"),
)

Row = tuple[Any, ...]

_INSERTS: dict[str, str] = {
    "users": (
        "INSERT INTO users (user_id, telegram_chat_id, username, first_name,"
        " last_name, language_code, timezone, joined_at, last_active_at, is_active,"
        " settings_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "checkins": (
        "INSERT INTO checkins"
        " (user_id, checkin_date, mood, urge_level, score, note, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "streaks": (
        "INSERT INTO streaks"
        " (user_id, current_days, longest_days, started_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?)"
    ),
    "relapses": (
        'INSERT INTO relapses (user_id, occurred_at, "trigger", reflection) VALUES (?, ?, ?, ?)'
    ),
    "journal_entries": (
        "INSERT INTO journal_entries (user_id, created_at, title, body, attachment)"
        " VALUES (?, ?, ?, ?, ?)"
    ),
    "reminders": (
        "INSERT INTO reminders (user_id, kind, remind_at, enabled, created_at)"
        " VALUES (?, ?, ?, ?, ?)"
    ),
    "user_badges": "INSERT INTO user_badges (user_id, badge, earned_at) VALUES (?, ?, ?)",
}

_COUNTS: dict[str, str] = {
    "users": "SELECT COUNT(*) FROM users",
    "checkins": "SELECT COUNT(*) FROM checkins",
    "streaks": "SELECT COUNT(*) FROM streaks",
    "relapses": "SELECT COUNT(*) FROM relapses",
    "journal_entries": "SELECT COUNT(*) FROM journal_entries",
    "reminders": "SELECT COUNT(*) FROM reminders",
    "user_badges": "SELECT COUNT(*) FROM user_badges",
}


@dataclass(frozen=True)
class SampleSummary:
    """Row counts of a freshly built sample database."""

    path: Path
    users: int
    checkins: int
    streaks: int
    relapses: int
    journal_entries: int
    reminders: int
    user_badges: int

    @property
    def total_rows(self) -> int:
        """Return the number of rows over all tables."""
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        """Return the row count of each table, keyed by table name."""
        return {k: v for k, v in asdict(self).items() if k != "path"}


def _iso(moment: datetime) -> str:
    """Format a timezone-aware moment as ISO 8601 with seconds precision."""
    return moment.isoformat(timespec="seconds")


def _chance(rng: random.Random, probability: float) -> bool:
    """Return True with the given probability."""
    return rng.random() < probability


def _maybe(rng: random.Random, probability: float, value: T) -> T | None:
    """Return ``value`` with the given probability, otherwise None."""
    return value if _chance(rng, probability) else None


def _later(rng: random.Random, start: datetime, within_days: int) -> datetime:
    """Return a random moment within ``within_days`` days after ``start``."""
    offset = timedelta(days=rng.randrange(within_days), seconds=rng.randrange(86_400))
    return start + offset


def _attachment(rng: random.Random) -> bytes:
    """Return fake media bytes of 1-20 KB that always contain NUL bytes."""
    header = rng.choice(_BLOB_HEADERS)
    return header + rng.randbytes(rng.randint(1024, 20 * 1024) - len(header))


def _user_row(rng: random.Random, index: int, user_id: int, joined: datetime) -> Row:
    """Return one ``users`` row; the first few carry extreme 64-bit chat ids."""
    first = rng.choice(_FIRST_NAMES)
    handle = f"{first.lower().replace(' ', '_')}{index}"
    extreme = index < len(_EXTREME_CHAT_IDS)
    settings = {
        "reminders": _chance(rng, 0.7),
        "quote_lang": rng.choice(("id", "en")),
        "daily_goal": "Tetap bersih hari ini 💪",
    }
    return (
        user_id,
        _EXTREME_CHAT_IDS[index] if extreme else user_id,
        _maybe(rng, 0.7, handle),
        first,
        _maybe(rng, 0.75, rng.choice(_LAST_NAMES)),
        rng.choice(("id", "id", "en")),
        rng.choice(_TIMEZONES),
        _iso(joined),
        None,  # the check-in trigger fills last_active_at
        int(_chance(rng, 0.85)),
        _maybe(rng, 0.8, json.dumps(settings, ensure_ascii=False)),
    )


def _checkin_rows(rng: random.Random, user_id: int, joined: datetime, days: int) -> list[Row]:
    """Return at most one check-in per day for a user, in date order."""
    rows: list[Row] = []
    offsets = sorted(rng.sample(range(1, days), min(days - 1, rng.randint(0, 30))))
    for offset in offsets:
        hour, minute, second = rng.randint(5, 23), rng.randrange(60), rng.randrange(60)
        clock = time(hour, minute, second, tzinfo=WIB)
        moment = datetime.combine(joined.date() + timedelta(days=offset), clock)
        score = rng.choice((round(rng.uniform(0, 10), 2), rng.uniform(0, 10), None))
        rows.append(
            (
                user_id,
                moment.date().isoformat(),
                rng.randint(1, 5),
                _maybe(rng, 0.9, rng.randint(0, 10)),
                score,
                _maybe(rng, 0.45, rng.choice(_NOTES)),
                _iso(moment),
            )
        )
    return rows


def _generate(rng: random.Random, users: int) -> dict[str, list[Row]]:
    """Generate the rows of every table, in insertion order."""
    rows: dict[str, list[Row]] = {table: [] for table in _INSERTS}
    user_ids = rng.sample(range(10_000_000, 7_999_999_999), users)
    for index, user_id in enumerate(user_ids):
        joined = _later(rng, _EPOCH, _HISTORY_DAYS // 2)
        days = _HISTORY_DAYS - (joined - _EPOCH).days
        rows["users"].append(_user_row(rng, index, user_id, joined))
        rows["checkins"].extend(_checkin_rows(rng, user_id, joined, days))
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3))):
            rows["relapses"].append(
                (
                    user_id,
                    _iso(_later(rng, joined, days)),
                    _maybe(rng, 0.85, rng.choice(_TRIGGERS)),
                    _maybe(rng, 0.6, rng.choice(_REFLECTIONS)),
                )
            )
        for _ in range(rng.choice((0, 0, 1, 2, 3, 5, 8))):
            rows["journal_entries"].append(
                (
                    user_id,
                    _iso(_later(rng, joined, days)),
                    _maybe(rng, 0.7, rng.choice(_JOURNAL_TITLES)),
                    "\n\n".join(rng.sample(_JOURNAL_SENTENCES, rng.randint(1, 4))),
                    _attachment(rng) if _chance(rng, 0.04) else None,
                )
            )
        if _chance(rng, 0.95):
            longest = rng.randint(0, 400)
            current = rng.randint(0, longest)
            updated = _later(rng, _EPOCH + timedelta(days=_HISTORY_DAYS), 1)
            started = _maybe(rng, 0.95, _iso(updated - timedelta(days=current)))
            rows["streaks"].append((user_id, current, longest, started, _iso(updated)))
        for kind in rng.sample(_REMINDER_KINDS, rng.randint(0, len(_REMINDER_KINDS))):
            remind_at = f"{rng.randint(5, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}"
            enabled = int(_chance(rng, 0.8))
            rows["reminders"].append((user_id, kind, remind_at, enabled, _iso(joined)))
        for badge in rng.sample(_BADGES, rng.randint(0, 4)):
            earned = _iso(_later(rng, joined, days))
            rows["user_badges"].append((user_id, badge, earned))
    return rows


def _remove_partial(path: Path) -> None:
    """Delete a half-built database and its SQLite side files."""
    suffixes = ("", "-wal", "-shm", "-journal")
    for candidate in (path.with_name(path.name + suffix) for suffix in suffixes):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def _fill(path: Path, rows: dict[str, list[Row]]) -> dict[str, int]:
    """Insert all rows in one transaction and return the row count of each table."""
    conn = connect(path)
    try:
        conn.isolation_level = None  # explicit BEGIN/COMMIT: one transaction
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, statement in _INSERTS.items():
                conn.executemany(statement, rows[table])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        conn.execute("PRAGMA optimize")
        return {table: conn.execute(q).fetchone()[0] for table, q in _COUNTS.items()}
    finally:
        conn.close()


def create_sample_database(path: Path, users: int = 3000, seed: int = 7) -> SampleSummary:
    """Build a new sample bot database at ``path``, never touching an existing file.

    Args:
        path: Where to create the database; nothing may exist there yet.
        users: How many users to generate (each with check-ins, journal entries...).
        seed: Seed of the random generator; the same seed gives the same rows.

    Returns:
        The row count of each table.

    Raises:
        FileExistsError: Something already exists at ``path``.
        ValueError: ``users`` is negative.
    """
    if users < 0:
        msg = f"users must be >= 0, got {users}"
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL claims the name atomically: a file created meanwhile is never opened.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        msg = (
            f"Refusing to create a sample database: {path} already exists. "
            "Choose a path that does not exist yet."
        )
        raise FileExistsError(errno.EEXIST, msg, str(path)) from None
    try:
        create_database(path)
        rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not secrets
        counts = _fill(path, _generate(rng, users))
    except BaseException:
        _remove_partial(path)
        raise
    summary = SampleSummary(path=path, **counts)
    logger.info("Created sample database %s with %d rows", path, summary.total_rows)
    return summary


def _write_json_exclusive(target: Path, payload: object) -> bool:
    """Write ``payload`` as UTF-8 JSON to a new file; return False if it exists."""
    try:
        with target.open("x", encoding="utf-8", newline="\n") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
    except FileExistsError:
        return False
    return True


def write_sample_data_files(data_dir: Path) -> list[Path]:
    """Write ``quotes.json`` and ``tips.json`` into ``data_dir`` where they are missing.

    Args:
        data_dir: Directory for the files; created when missing.

    Returns:
        The paths actually written; existing files are left untouched.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    payloads: dict[str, list[dict[str, Any]]] = {
        "quotes.json": [
            {"id": i, "lang": lang, "text": text} for i, (lang, text) in enumerate(_QUOTES, start=1)
        ],
        "tips.json": [
            {"id": i, "lang": lang, "category": category, "text": text}
            for i, (lang, category, text) in enumerate(_TIPS, start=1)
        ],
    }
    written: list[Path] = []
    for name, payload in payloads.items():
        target = data_dir / name
        if _write_json_exclusive(target, payload):
            written.append(target)
        else:
            logger.info("Keeping existing %s", target)
    return written

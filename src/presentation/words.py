"""The presentation layer's words in Indonesian and English: the status, off-site, replication.

The CLI speaks English (the default everywhere); the bot passes the admin's language. One
table, each key with both variants; `word` is the only lookup. The words a door brings
itself (its `Hints`) and the service core's free-form reasons are not here.
"""

from __future__ import annotations

ENGLISH = "en"
LANGUAGES = ("id", "en")

WORDS: dict[str, dict[str, str]] = {
    # units
    "yes": {"id": "✅ Ya", "en": "✅ Yes"},
    "no": {"id": "❌ Tidak", "en": "❌ No"},
    "never": {"id": "belum pernah", "en": "never"},
    "hours_ago": {"id": "{hours} jam lalu", "en": "{hours} h ago"},
    "days_ago": {"id": "{days} hari lalu", "en": "{days} days ago"},
    "seconds": {"id": "{value} dtk", "en": "{value} s"},
    "minutes": {"id": "{value} mnt", "en": "{value} min"},
    "hours": {"id": "{value} jam", "en": "{value} h"},
    # the status: its sections
    "title": {"id": "📊 Status Sistem Cadangan", "en": "📊 Backup System Status"},
    "database": {"id": "🗄️ DATABASE:", "en": "🗄️ DATABASE:"},
    "path": {"id": "  Lokasi: {path}", "en": "  Path: {path}"},
    "exists": {"id": "  Ada: {flag}", "en": "  Exists: {flag}"},
    "size": {"id": "  Ukuran: {size}", "en": "  Size: {size}"},
    "integrity": {"id": "  Integritas: {integrity}", "en": "  Integrity: {integrity}"},
    "backups": {"id": "💾 CADANGAN:", "en": "💾 BACKUPS:"},
    "total_backups": {"id": "  Jumlah cadangan: {count}", "en": "  Total backups: {count}"},
    "storage_used": {"id": "  Penyimpanan terpakai: {size}", "en": "  Storage used: {size}"},
    "free_space": {"id": "  Ruang kosong: {size}", "en": "  Free space: {size}"},
    "latest": {"id": "🕒 CADANGAN TERBARU:", "en": "🕒 LATEST BACKUP:"},
    "type": {"id": "  Jenis: {kind}", "en": "  Type: {kind}"},
    "created": {"id": "  Dibuat: {at}", "en": "  Created: {at}"},
    "none_yet": {"id": "  Belum ada", "en": "  None yet"},
    "history": {
        "id": "📜 RIWAYAT (setiap cadangan, apa pun pemicunya):",
        "en": "📜 HISTORY (every backup, any trigger):",
    },
    "history_counts": {
        "id": "  Berhasil: {ok}, gagal: {failed}",
        "en": "  Successful: {ok}, failed: {failed}",
    },
    "history_interrupted": {"id": ", terputus: {count}", "en": ", interrupted: {count}"},
    "last_failure": {
        "id": "  Kegagalan terakhir: {at} ({kind}): {error}",
        "en": "  Last failure: {at} ({kind}): {error}",
    },
    # the kinds of backup, as the status counts them
    "kind_daily": {"id": "harian", "en": "daily"},
    "kind_weekly": {"id": "mingguan", "en": "weekly"},
    "kind_manual": {"id": "manual", "en": "manual"},
    "kind_emergency": {"id": "darurat", "en": "emergency"},
    "kind_pre-restore": {"id": "pra-pemulihan", "en": "pre-restore"},
    # admins the bot's messages do not reach
    "admins": {
        "id": "📨 ADMIN YANG TIDAK DAPAT DIHUBUNGI BOT:",
        "en": "📨 ADMINS THE BOT CANNOT REACH:",
    },
    "admin_line": {
        "id": "  ⚠️ {admin}: {reason} (sejak {since})",
        "en": "  ⚠️ {admin}: {reason} (since {since})",
    },
    "reason_blocked": {"id": "memblokir bot", "en": "blocked the bot"},
    "reason_not_started": {
        "id": "belum pernah memulai bot (ia harus membukanya dan menekan Start)",
        "en": "never started the bot (they must open it and press Start)",
    },
    "reason_failing": {
        "id": "pesan kepadanya gagal terkirim",
        "en": "messages to them fail",
    },
    # the scheduler
    "scheduler": {"id": "⚙️ PENJADWAL:", "en": "⚙️ SCHEDULER:"},
    "sched_hanging": {
        "id": "⚠️ Tidak merespons (pid {pid}, detak terakhir {at}): mungkin berhenti atau "
        "macet; hentikan proses itu lalu jalankan lagi",
        "en": "⚠️ Not responding (pid {pid}, last heartbeat {at}): it may be stopped or "
        "stuck; end that process and start it again",
    },
    "sched_paused": {
        "id": "⏸️ Dijeda (pid {pid}; {resume} melanjutkannya)",
        "en": "⏸️ Paused (pid {pid}; {resume} resumes it)",
    },
    "sched_running": {
        "id": "🟢 Berjalan (pid {pid}, sejak {at})",
        "en": "🟢 Running (pid {pid}, since {at})",
    },
    "sched_stopped": {"id": "🔴 Berhenti ({start})", "en": "🔴 Stopped ({start})"},
    "sched_not_running": {"id": "🔴 Tidak berjalan ({start})", "en": "🔴 Not running ({start})"},
    "sched_paused_stopped": {
        "id": "; dijeda: cadangan terjadwal dilewati sampai {resume}",
        "en": "; paused: scheduled backups are skipped until {resume}",
    },
    "status": {"id": "  Status: {state}", "en": "  Status: {state}"},
    "successful_backups": {
        "id": "  Cadangan berhasil: {count}",
        "en": "  Successful backups: {count}",
    },
    "failed_backups": {"id": "  Cadangan gagal: {count}", "en": "  Failed backups: {count}"},
    "next_daily": {
        "id": "  Cadangan harian berikutnya: {at}",
        "en": "  Next daily backup: {at}",
    },
    "next_weekly": {
        "id": "  Cadangan mingguan berikutnya: {at}",
        "en": "  Next weekly backup: {at}",
    },
    "last_restore_drill": {
        "id": "  Uji pemulihan terakhir: {result}",
        "en": "  Last restore drill: {result}",
    },
    # the scheduler's warnings (src/services/scheduler_state.py: stale_warnings), read back
    "stale_yet": {
        "id": "Belum ada cadangan {kind} yang berhasil",
        "en": "No {kind} backup has succeeded yet",
    },
    "stale_for": {
        "id": "Tidak ada cadangan {kind} yang berhasil selama {hours} jam (alarm pada {limit} jam)",
        "en": "No {kind} backup has succeeded for {hours} h (the alarm is at {limit} h)",
    },
    "last_replica_drill": {
        "id": "  Uji replika terakhir: {result}",
        "en": "  Last replica drill: {result}",
    },
    # off-machine copies
    "offsite": {"id": "🌍 SALINAN DI LUAR MESIN:", "en": "🌍 OFFSITE:"},
    "offsite_none": {
        "id": "  ⚠️ Tidak ada salinan di luar mesin: setiap cadangan hanya ada di server ini. "
        "Atur OFFSITE_TARGETS dan OFFSITE_ENCRYPT_TO (README: Off-machine copies).",
        "en": "  ⚠️ No off-machine copy: every backup is on this server only. "
        "Set OFFSITE_TARGETS and OFFSITE_ENCRYPT_TO (README: Off-machine copies).",
    },
    "encrypted": {"id": "terenkripsi (age)", "en": "encrypted (age)"},
    "not_encrypted": {"id": "TIDAK terenkripsi", "en": "NOT encrypted"},
    "nothing_copied": {"id": "tidak ada yang disalin", "en": "nothing is copied"},
    "made_age": {"id": "dibuat {age}, ", "en": "made {age}, "},
    "newest_verified": {
        "id": "    Salinan terverifikasi terbaru: {archive}",
        "en": "    Newest verified copy: {archive}",
    },
    "none": {"id": "tidak ada", "en": "none"},
    "verified_age": {"id": " ({made}diverifikasi {age})", "en": " ({made}verified {age})"},
    "database_only": {"id": ", hanya database", "en": ", database only"},
    "copies_held": {
        "id": "    Salinan tersimpan: {count}, {size}; tertunda: {pending}",
        "en": "    Copies held: {count}, {size}; pending: {pending}",
    },
    "last_error_at": {
        "id": "    Kesalahan terakhir ({at}): {error}",
        "en": "    Last error ({at}): {error}",
    },
    "no_identity": {
        "id": "  💡 AGE_IDENTITY_FILE tidak diatur di sini (wajar di server): maka uji pemulihan "
        "dan `offsite verify` hanya memeriksa bita terenkripsinya",
        "en": "  💡 AGE_IDENTITY_FILE is not set here (fine on a server): drills and "
        "`offsite verify` then check only the encrypted bytes",
    },
    "stale_none": {
        "id": "Belum ada salinan harian terverifikasi di sana",
        "en": "No verified daily copy there yet",
    },
    "stale_hours": {
        "id": "Tidak ada cadangan harian dari {hours} jam terakhir yang terverifikasi di sana",
        "en": "No daily backup made in the last {hours} h is verified there",
    },
    # a round of off-machine copies
    "run_not_copied": {"id": "  {mark} Di luar mesin: {why}", "en": "  {mark} Off-machine: {why}"},
    "run_copied": {
        "id": "  ✅ Di luar mesin {target}: {archive} {detail}",
        "en": "  ✅ Off-machine {target}: {archive} {detail}",
    },
    "run_retry": {"id": " (dicoba lagi pukul {at})", "en": " (retry at {at})"},
    "run_pending": {
        "id": "  ⚠️ Di luar mesin {target}: {archive} tetap TERTUNDA{retry}: {detail}",
        "en": "  ⚠️ Off-machine {target}: {archive} stays PENDING{retry}: {detail}",
    },
    "run_deleted": {
        "id": "  Retensi di luar mesin menghapus {name}",
        "en": "  Off-machine retention removed {name}",
    },
    # the replica (Litestream)
    "replication": {"id": "🔁 REPLIKASI:", "en": "🔁 REPLICATION:"},
    "repl_running": {
        "id": "🟢 Berjalan (pid litestream {pid})",
        "en": "🟢 Running (litestream pid {pid})",
    },
    "repl_not_running": {
        "id": "🔴 Tidak berjalan ({start}: ia menjalankan Litestream)",
        "en": "🔴 Not running ({start}: it runs Litestream)",
    },
    "replica": {"id": "  Replika: {replica}", "en": "  Replica: {replica}"},
    "newest_replicated": {
        "id": "  Terbaru yang direplikasi: {what}",
        "en": "  Newest replicated: {what}",
    },
    "transaction": {
        "id": "transaksi {txid}, ditulis {at}",
        "en": "transaction {txid}, written {at}",
    },
    "nothing_yet": {"id": "belum ada", "en": "nothing yet"},
    "none_yet_moment": {"id": "belum ada", "en": "none yet"},
    "lag": {"id": "  Keterlambatan: {lag}", "en": "  Lag: {lag}"},
    "oldest_restorable": {
        "id": "  Saat tertua yang dapat dipulihkan: {at}",
        "en": "  Oldest restorable moment: {at}",
    },
    "restarts": {
        "id": "  Dimulai ulang: {count} (berhenti terakhir: {last})",
        "en": "  Restarts: {count} (last end: {last})",
    },
    "last_error": {"id": "  ⚠️ Kesalahan terakhir: {error}", "en": "  ⚠️ Last error: {error}"},
    "lag_limit": {"id": "alarm di atas {limit}", "en": "alarm above {limit}"},
    "lag_unknown": {"id": "tidak diketahui ({limit})", "en": "unknown ({limit})"},
    "at_most": {"id": "paling lama ", "en": "at most "},
}  # fmt: skip


def word(key: str, language: str = ENGLISH, **values: object) -> str:
    """The words `key` in `language` ("id" or "en"; anything else: English), `values` filled in."""
    variants = WORDS[key]
    return variants.get(language, variants[ENGLISH]).format(**values)

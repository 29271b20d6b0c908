"""Work under way and its end: backups made, failures, the job that runs, the alarms."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # a backup asked for with a button
    "unknown_kind": {"id": "Jenis cadangan tidak dikenal.", "en": "Unknown backup type."},
    "creating": {"id": "⏳ Membuat cadangan {kind}…", "en": "⏳ Creating a {kind} backup…"},
    "creating_title": {
        "id": "⏳ Membuat cadangan {kind}… ini bisa memakan waktu.",
        "en": "⏳ Creating a {kind} backup… this can take a while.",
    },
    "making_daily": {"id": "⏳ Membuat cadangan harian…", "en": "⏳ Making the daily backup…"},
    "making_daily_title": {
        "id": "⏳ Membuat cadangan harian… ini bisa memakan waktu.",
        "en": "⏳ Making the daily backup… this can take a while.",
    },
    "backup_created": {
        "id": "{mark} <b>Cadangan {kind} dibuat</b>",
        "en": "{mark} <b>{kind} backup created</b>",
    },
    "backup_file": {"id": "Berkas: {name}", "en": "File: {name}"},
    "backup_size": {"id": "Ukuran: {size}", "en": "Size: {size}"},
    "backup_duration": {"id": "Durasi: {seconds} dtk", "en": "Duration: {seconds} s"},
    "backup_users": {"id": "Pengguna: {count}", "en": "Users: {count}"},
    "backup_integrity": {
        "id": "Integritas: sebelum {before}, arsip {after} — {verdict}",
        "en": "Integrity: before {before}, archive {after} — {verdict}",
    },
    "verdict_ok": {"id": "✅ baik", "en": "✅ ok"},
    "verdict_degraded": {
        "id": "⚠️ terdegradasi (database gagal dalam pemeriksaannya)",
        "en": "⚠️ degraded (the database failed its checks)",
    },
    "failed": {"id": "❌ <b>{what} gagal</b>", "en": "❌ <b>{what} failed</b>"},
    "unexpected_error": {
        "id": "kesalahan tak terduga; lihat log",
        "en": "an unexpected error; see the log",
    },
    "what_backup": {"id": "Cadangan {kind}", "en": "The {kind} backup"},
    "scheduled_made": {
        "id": "✅ Cadangan {kind} dibuat: {name}",
        "en": "✅ {kind} backup made: {name}",
    },
    "scheduled_failed": {
        "id": "❌ Cadangan {kind} gagal: {reason}",
        "en": "❌ The {kind} backup failed: {reason}",
    },
    "scheduled_retry": {
        "id": " Akan dicoba lagi pukul {at}.",
        "en": " It is retried at {at}.",
    },
    "see_errors_log": {"id": "lihat logs/errors.log", "en": "see logs/errors.log"},
    # the job that runs: what, since when, who started it
    "job_backup": {"id": "cadangan {kind}", "en": "a {kind} backup"},
    "job_restore": {"id": "pemulihan dari {name}", "en": "a restore from {name}"},
    "job_by_scheduler": {"id": "penjadwal", "en": "the scheduler"},
    "job_by_other": {"id": "{name}", "en": "the {name}"},
    "job_running": {
        "id": "{what} sedang berjalan sejak {since}, dimulai oleh {by}.",
        "en": "{what} is running since {since}, started by {by}.",
    },
    "job_busy": {
        "id": "⏳ {sentence} Tunggu sampai selesai, lalu minta lagi.",
        "en": "⏳ {sentence} Wait until it has finished, then ask again.",
    },
    # after a restart
    "interrupted_restore": {
        "id": "📊 Status Cadangan menunjukkan apakah database baik; salinan pengaman yang dibuat "
        "sebelum pemulihan ada di antara cadangan pra-pemulihan.",
        "en": "📊 Backup Status shows whether the database is sound; the safety copy made "
        "before the restore is among the pre-restore backups.",
    },
    "interrupted_backup": {
        "id": "Tidak ada yang setengah tertulis yang tercantum sebagai cadangan: buat lagi dari "
        "/backup.",
        "en": "Nothing half-written is listed as a backup: make it again from /backup.",
    },
    "interrupted": {
        "id": "⚠️ <b>Bot dimulai ulang di tengah {what}</b>\n"
        "Dimulai {since} oleh {by}; tidak selesai.\n{hint}",
        "en": "⚠️ <b>The bot restarted during {what}</b>\n"
        "Started {since} by {by}; it did not finish.\n{hint}",
    },
    "from_before_restart": {
        "id": "📬 <b>Dari sebelum bot dimulai ulang</b>",
        "en": "📬 <b>From before the bot restarted</b>",
    },
    # the scheduler's alarms (the message under the title comes from the scheduler, in English)
    "alarm_backup_failed": {"id": "⚠️ Pencadangan gagal", "en": "⚠️ Backup failed"},
    "alarm_backup_gave_up": {
        "id": "❌ Pencadangan gagal, tidak dicoba lagi",
        "en": "❌ Backup failed, no more retries",
    },
    "alarm_drill_failed": {"id": "❌ Uji pemulihan gagal", "en": "❌ Restore drill failed"},
    "alarm_stale": {"id": "⏰ Cadangan terlambat", "en": "⏰ Backups are late"},
    "alarm_offsite_failed": {
        "id": "⚠️ Salinan di luar mesin gagal",
        "en": "⚠️ Off-machine copy failed",
    },
    "alarm_offsite_stale": {
        "id": "⏰ Salinan di luar mesin terlambat",
        "en": "⏰ Off-machine copies are late",
    },
    "alarm_offsite_drill_failed": {
        "id": "❌ Uji pemulihan salinan di luar mesin gagal",
        "en": "❌ Off-machine restore drill failed",
    },
    "alarm_replication_down": {
        "id": "⚠️ Replikasi (Litestream) berhenti",
        "en": "⚠️ Replication (Litestream) stopped",
    },
    "alarm_replication_lag": {"id": "⏰ Replika tertinggal", "en": "⏰ The replica is behind"},
    "alarm_replica_drill_failed": {
        "id": "❌ Uji pemulihan replika gagal",
        "en": "❌ Replica restore drill failed",
    },
}  # fmt: skip

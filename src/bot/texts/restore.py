"""Restoring: the check before the confirmation, the confirmation, the point in time, the end."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "checking_backup": {"id": "⏳ Memeriksa cadangan…", "en": "⏳ Checking the backup…"},
    "validating": {"id": "⏳ Memvalidasi {name}…", "en": "⏳ Validating {name}…"},
    "plan_title": {
        "id": "🔧 <b>Pemulihan — periksa sebelum mengonfirmasi</b>",
        "en": "🔧 <b>Restore — check before you confirm</b>",
    },
    "plan_archive": {"id": "Arsip: {name}", "en": "Archive: {name}"},
    "plan_validation": {
        "id": "Validasi: ✅ lolos (salinan yang dipakai: {source})",
        "en": "Validation: ✅ passed (copy used: {source})",
    },
    "plan_rows": {
        "id": "<b>Baris sekarang → di cadangan</b>",
        "en": "<b>Rows now → in the backup</b>",
    },
    "plan_live_unreadable": {
        "id": "⚠️ Database aktif tidak dapat dibaca: {problem}",
        "en": "⚠️ The live database cannot be read: {problem}",
    },
    "plan_schema": {
        "id": "⚠️ <b>Cadangan ini mengubah skema</b> ({count}):",
        "en": "⚠️ <b>This backup changes the schema</b> ({count}):",
    },
    "and_more": {"id": "• … dan {count} lainnya", "en": "• … and {count} more"},
    "plan_safety": {
        "id": "Salinan pengaman dari database saat ini dibuat lebih dulu.",
        "en": "A safety copy of the current database is made first.",
    },
    "plan_expires": {
        "id": "⏳ Konfirmasi ini berlaku {minutes} menit dan hanya untukmu.",
        "en": "⏳ This confirmation expires in {minutes} minutes and only works for you.",
    },
    "review_schema": {"id": "⚠️ Tinjau perubahan skema", "en": "⚠️ Review the schema changes"},
    "confirm_restore": {"id": "✅ Konfirmasi pemulihan", "en": "✅ Confirm restore"},
    "cancel": {"id": "❌ Batal", "en": "❌ Cancel"},
    "schema_title": {
        "id": "⚠️ <b>Pulihkan dan ubah skema?</b>",
        "en": "⚠️ <b>Restore and change the schema?</b>",
    },
    "schema_warning": {
        "id": "Memulihkannya mengganti skema bot dengan skema cadangan. Pemicu atau tabel yang "
        "tidak dikenal bot bisa menghilangkan atau membocorkan data; lanjutkan hanya jika kamu "
        "tahu mengapa skemanya berbeda (misalnya, membatalkan migrasi).",
        "en": "Restoring it replaces the bot's schema with the backup's. A trigger or table the "
        "bot does not expect can lose or leak data; only go on if you know why it differs "
        "(for example, undoing a migration).",
    },
    "schema_confirm": {
        "id": "⚠️ Pulihkan dan ubah skema",
        "en": "⚠️ Restore and change the schema",
    },
    "no_longer_valid": {
        "id": "⌛ Konfirmasi ini sudah tidak berlaku (sudah dipakai, dibatalkan, atau "
        "kedaluwarsa). Mulai pemulihan lagi.",
        "en": "⌛ This confirmation is no longer valid (used, cancelled or expired). "
        "Start the restore again.",
    },
    "not_yours": {
        "id": "⛔ Hanya admin yang meminta pemulihan ini yang dapat mengonfirmasinya.",
        "en": "⛔ Only the admin who asked for this restore can confirm it.",
    },
    "restoring": {"id": "⏳ Memulihkan…", "en": "⏳ Restoring…"},
    "restoring_title": {
        "id": "⏳ Memulihkan… database bot sedang diganti.",
        "en": "⏳ Restoring… the bot's database is being replaced.",
    },
    "cancelled_before": {
        "id": "❌ Pemulihan dibatalkan sebelum dimulai: tidak ada yang diubah.",
        "en": "❌ Restore cancelled before it started: nothing was changed.",
    },
    "too_late": {
        "id": "Terlambat untuk membatalkan: pemulihan sedang berjalan (salinan pengaman database "
        "sudah dibuat lebih dulu). Hasilnya ditampilkan di sini setelah selesai.",
        "en": "Too late to cancel: the restore is running (a safety copy of the database was "
        "made first). Its result is shown here when it ends.",
    },
    "cancelled": {
        "id": "❌ Dibatalkan: pemulihan belum dimulai.",
        "en": "❌ Cancelled: the restore had not started.",
    },
    "restore_done": {
        "id": "{mark} <b>Pemulihan selesai</b>",
        "en": "{mark} <b>Restore finished</b>",
    },
    "restore_from": {
        "id": "Dari: {name} (salinan yang dipakai: {source})",
        "en": "From: {name} (copy used: {source})",
    },
    "restore_integrity": {"id": "Integritas: {integrity}", "en": "Integrity: {integrity}"},
    "restore_rows": {
        "id": "Baris: {rows} (cadangan: {expected})",
        "en": "Rows: {rows} (backup: {expected})",
    },
    "restore_safety": {"id": "Salinan pengaman: {name}", "en": "Safety copy: {name}"},
    "restore_note": {"id": "Catatan: {note}", "en": "Note: {note}"},
    # a file sent to the bot
    "file_admins_only": {
        "id": "⛔ Hanya admin bot yang dapat mengirim cadangan untuk dipulihkan.",
        "en": "⛔ Only the bot's admins can send backups to restore.",
    },
    "file_not_archive": {
        "id": "📎 Untuk memulihkan, kirim arsip cadangan (.zip, atau salinan age-nya .zip.age).",
        "en": "📎 To restore, send a backup archive (.zip, or its age copy .zip.age).",
    },
    "file_receiving": {
        "id": "⏳ Menerima dan memvalidasi {name}…",
        "en": "⏳ Receiving and validating {name}…",
    },
    "the_file": {"id": "berkas itu", "en": "the file"},
    "file_too_large": {
        "id": "{name} lebih besar dari {limit} MB yang boleh diunduh bot lewat Bot API cloud. "
        "Salin ke server lalu jalankan `python backup_manager.py restore <file>`, atau "
        "jalankan server Bot API sendiri (TELEGRAM_API_URL), yang tidak punya batas itu.",
        "en": "{name} is larger than the {limit} MB the cloud Bot API lets a bot download. "
        "Copy it to the server and run `python backup_manager.py restore <file>`, or run a "
        "self-hosted Bot API server (TELEGRAM_API_URL), which has no such limit.",
    },
    # to a point in time (the Litestream replica)
    "pit_title": {
        "id": "🕰️ <b>Pulihkan ke suatu titik waktu</b>",
        "en": "🕰️ <b>Restore to a point in time</b>",
    },
    "pit_replica": {"id": "Replika: {replica}", "en": "Replica: {replica}"},
    "pit_empty": {
        "id": "Replika belum berisi apa pun: apakah penjadwal (Litestream) berjalan?",
        "en": "It holds nothing yet: is the scheduler (Litestream) running?",
    },
    "pit_newest": {
        "id": "Penulisan terbaru yang direplikasi: {at}",
        "en": "Newest replicated write: {at}",
    },
    "pit_oldest": {
        "id": "Saat tertua yang dapat dipulihkan: setelah {at}",
        "en": "Oldest restorable moment: after {at}",
    },
    "pit_choose": {
        "id": "Pilih saatnya; pemulihan ditampilkan untuk diperiksa sebelum kamu mengonfirmasi.",
        "en": "Choose the moment; the restore is shown for checking before you confirm.",
    },
    "pit_yesterday": {"id": "🌅 Kemarin {hour}:00", "en": "🌅 Yesterday {hour}:00"},
    "pit_this_morning": {"id": "🌅 Pagi ini {hour}:00", "en": "🌅 This morning {hour}:00"},
    "pit_5_minutes": {"id": "⏪ 5 menit lalu", "en": "⏪ 5 minutes ago"},
    "pit_1_hour": {"id": "⏪ 1 jam lalu", "en": "⏪ 1 hour ago"},
    "pit_type": {"id": "⌨️ Ketik waktu", "en": "⌨️ Type a time"},
    "pit_ask": {
        "id": "⌨️ <b>Ketik saat yang akan dipulihkan</b>\n"
        "Kirim sebagai pesan: <code>YYYY-MM-DD HH:MM</code> dalam {zone}, "
        "mis. <code>{example}</code>.\n⏳ Aku menunggunya {minutes} menit.",
        "en": "⌨️ <b>Type the moment to restore</b>\n"
        "Send it as a message: <code>YYYY-MM-DD HH:MM</code> in {zone}, "
        "e.g. <code>{example}</code>.\n⏳ I wait for it {minutes} minutes.",
    },
    "pit_asking": {
        "id": "⏳ Menanyakan isi replika…",
        "en": "⏳ Asking the replica what it holds…",
    },
    "pit_restoring_check": {
        "id": "⏳ Memulihkan saat itu ke berkas pemeriksaan…",
        "en": "⏳ Restoring that moment into a check file…",
    },
    "pit_restoring": {
        "id": "⏳ Memulihkan replika per {at}…",
        "en": "⏳ Restoring the replica as of {at}…",
    },
    "pit_bad_time": {
        "id": "❌ {error}. Kirim lagi, atau /backup untuk menu.",
        "en": "❌ {error}. Send it again, or /backup for the menu.",
    },
    "pit_not_a_time": {
        "id": "{text} bukan titik waktu: tulis YYYY-MM-DD HH:MM[:SS] (dalam {zone}) atau "
        "ISO 8601 dengan selisih zona, mis. 2026-12-06T14:05:00+07:00",
        "en": "{text} is no point in time: write YYYY-MM-DD HH:MM[:SS] (in {zone}) or "
        "ISO 8601 with an offset, e.g. 2026-12-06T14:05:00+07:00",
    },
    "pit_no_replica": {
        "id": "REPLICA_URL belum diatur: tidak ada replika untuk kembali ke masa lalu.",
        "en": "REPLICA_URL is not set: there is no replica to go back in time with.",
    },
    # what failed (the title of a failure screen)
    "what_pit": {"id": "Pemulihan ke titik waktu", "en": "Point-in-time restore"},
    "what_list_replica": {"id": "Membaca isi replika", "en": "Listing the replica"},
    "what_validation": {"id": "Validasi", "en": "Validation"},
    "what_receiving": {"id": "Menerima berkas", "en": "Receiving the file"},
    "what_restore": {"id": "Pemulihan", "en": "The restore"},
}  # fmt: skip

"""The /backup menu: its titles, buttons, lists, a backup's details, the scheduler screen."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # every screen
    "back": {"id": "⬅️ Kembali", "en": "⬅️ Back"},
    "close": {"id": "✖️ Tutup", "en": "✖️ Close"},
    "closed": {
        "id": "Menu ditutup. /backup membukanya lagi.",
        "en": "Menu closed. /backup opens it again.",
    },
    "expired": {
        "id": "⌛ Menu ini sudah kedaluwarsa (bot dimulai ulang). Kirim /backup untuk menu baru.",
        "en": "⌛ This menu has expired (the bot restarted). Send /backup for a new one.",
    },
    "invalid": {
        "id": "⌛ Tombol ini sudah tidak berlaku. Kirim /backup.",
        "en": "⌛ This button is no longer valid. Send /backup.",
    },
    "still_working": {
        "id": "⏳ Masih mengerjakan permintaanmu sebelumnya…",
        "en": "⏳ Still working on your last request…",
    },
    "gone": {
        "id": "Cadangan ini sudah tidak ada (mungkin dihapus oleh aturan retensi).",
        "en": "This backup no longer exists (retention may have removed it).",
    },
    # the kinds of backup
    "kind_daily": {"id": "Harian", "en": "Daily"},
    "kind_weekly": {"id": "Mingguan", "en": "Weekly"},
    "kind_manual": {"id": "Manual", "en": "Manual"},
    "kind_emergency": {"id": "Darurat", "en": "Emergency"},
    "kind_pre-restore": {"id": "Pra-pemulihan", "en": "Pre-restore"},
    # the main menu
    "main_title": {
        "id": "🛡️ <b>Manajemen Cadangan</b>\nPilih tindakan:",
        "en": "🛡️ <b>Backup Management</b>\nChoose an action:",
    },
    "main_manual": {"id": "📦 Buat Cadangan Manual", "en": "📦 Create Manual Backup"},
    "main_emergency": {"id": "🔄 Buat Cadangan Darurat", "en": "🔄 Create Emergency Backup"},
    "main_list": {"id": "📋 Daftar Cadangan", "en": "📋 List Backups"},
    "main_status": {"id": "📊 Status Cadangan", "en": "📊 Backup Status"},
    "main_scheduler": {"id": "⚙️ Pengaturan Penjadwal", "en": "⚙️ Scheduler Settings"},
    "main_restore": {"id": "🔧 Menu Pemulihan", "en": "🔧 Restore Menu"},
    # the lists
    "crumb_backups": {"id": "Cadangan", "en": "Backups"},
    "crumb_restore": {"id": "Pemulihan", "en": "Restore"},
    "crumb_page": {"id": "halaman {number}", "en": "page {number}"},
    "types_list": {
        "id": "📋 <b>Cadangan</b>\nPilih jenis:",
        "en": "📋 <b>Backups</b>\nChoose a type:",
    },
    "types_restore": {
        "id": "🔧 <b>Pemulihan</b>\nPilih jenis cadangan yang akan dipulihkan:",
        "en": "🔧 <b>Restore</b>\nChoose the type of the backup to restore:",
    },
    "to_point_in_time": {
        "id": "🕰️ Ke suatu titik waktu (replika)",
        "en": "🕰️ To a point in time (replica)",
    },
    "none_yet": {"id": "Belum ada.", "en": "None yet."},
    "label_degraded": {"id": " · terdegradasi", "en": " · degraded"},
    "label_kept": {"id": " · 📌 disimpan", "en": " · 📌 kept"},
    "newer": {"id": "◀️ Lebih baru", "en": "◀️ Newer"},
    "older": {"id": "Lebih lama ▶️", "en": "Older ▶️"},
    # one backup
    "verified_yes": {"id": "✅ terverifikasi", "en": "✅ verified"},
    "verified_failed": {"id": "❌ gagal verifikasi", "en": "❌ failed verification"},
    "verified_not": {"id": "⚠️ belum diverifikasi", "en": "⚠️ not verified"},
    "details_type": {"id": "Jenis: {kind}", "en": "Type: {kind}"},
    "details_created": {"id": "Dibuat: {at}", "en": "Created: {at}"},
    "details_size": {"id": "Ukuran: {size}", "en": "Size: {size}"},
    "details_state": {"id": "Keadaan: {state}", "en": "State: {state}"},
    "details_degraded": {"id": " (terdegradasi)", "en": " (degraded)"},
    "details_kept": {
        "id": ", 📌 disimpan (retensi tidak pernah menghapusnya)",
        "en": ", 📌 kept (retention never deletes it)",
    },
    "details_users": {"id": "Pengguna: {count}", "en": "Users: {count}"},
    "details_tables": {
        "id": "Tabel: {tables}, baris: {rows}",
        "en": "Tables: {tables}, rows: {rows}",
    },
    "details_sqlite": {
        "id": "SQLite: {version}, pemicu: {trigger}",
        "en": "SQLite: {version}, trigger: {trigger}",
    },
    "download": {"id": "⬇️ Unduh", "en": "⬇️ Download"},
    "too_large_here": {
        "id": "⬇️ Terlalu besar untuk dikirim di sini ({size}; Bot API menerima {limit} MB). "
        "Salin dari server, atau pakai server Bot API sendiri (TELEGRAM_API_URL).",
        "en": "⬇️ Too large to send here ({size}; the Bot API takes {limit} MB). Copy it from "
        "the server, or use a self-hosted Bot API server (TELEGRAM_API_URL).",
    },
    "restore_button": {"id": "🔧 Pulihkan", "en": "🔧 Restore"},
    "sending_file": {"id": "⬆️ Mengirim berkas…", "en": "⬆️ Sending the file…"},
    "too_large_send": {
        "id": "Terlalu besar untuk dikirim: {name} melebihi {limit} MB yang diterima Bot API.",
        "en": "Too large to send: {name} is over the {limit} MB the Bot API takes.",
    },
    "send_failed": {
        "id": "❌ Gagal mengirim {name}: {error}. Jika tidak sampai, salin dari server: {path}",
        "en": "❌ Sending {name} failed: {error}. If it did not arrive, copy it from the "
        "server: {path}",
    },
    # the status screen (its body is the CLI's status layout, src/presentation/words.py)
    "refresh": {"id": "🔄 Segarkan", "en": "🔄 Refresh"},
    "hint_start_scheduler": {
        "id": "bot menjalankannya jika BOT_RUN_SCHEDULER aktif; jika tidak, jalankan layanan "
        "penjadwal di server",
        "en": "the bot runs it when BOT_RUN_SCHEDULER is on; else start the scheduler "
        "service on the server",
    },
    "hint_resume_scheduler": {"id": "tombol ▶️ Lanjutkan", "en": "the ▶️ Resume button"},
    # the scheduler
    "sched_hanging": {
        "id": "⚠️ Tidak merespons (pid {pid}): hentikan proses itu lalu jalankan lagi",
        "en": "⚠️ Not responding (pid {pid}): end that process and start it again",
    },
    "sched_paused": {"id": "⏸️ Dijeda (pid {pid})", "en": "⏸️ Paused (pid {pid})"},
    "sched_running": {"id": "🟢 Berjalan (pid {pid})", "en": "🟢 Running (pid {pid})"},
    "sched_stopped": {"id": "🔴 Berhenti", "en": "🔴 Stopped"},
    "sched_title": {"id": "⚙️ <b>Penjadwal</b>", "en": "⚙️ <b>Scheduler</b>"},
    "sched_daily": {"id": "Cadangan harian: {at}", "en": "Daily backup: {at}"},
    "sched_weekly": {"id": "Cadangan mingguan: {day} {at}", "en": "Weekly backup: {day} {at}"},
    "sched_timezone": {"id": "Zona waktu: {zone}", "en": "Time zone: {zone}"},
    "sched_status": {"id": "Status: {state}", "en": "Status: {state}"},
    "sched_elsewhere": {"id": " (di proses lain)", "en": " (in another process)"},
    "sched_next_daily": {"id": "Harian berikutnya: {at}", "en": "Next daily: {at}"},
    "sched_next_weekly": {"id": "Mingguan berikutnya: {at}", "en": "Next weekly: {at}"},
    "sched_counts": {
        "id": "Cadangan terjadwal: {ok} berhasil, {failed} gagal",
        "en": "Scheduled backups: {ok} ok, {failed} failed",
    },
    "sched_restore_drill": {
        "id": "Uji pemulihan terakhir: {mark} {at} {detail}",
        "en": "Last restore drill: {mark} {at} {detail}",
    },
    "sched_replica_drill": {
        "id": "Uji replika terakhir: {mark} {at} {detail}",
        "en": "Last replica drill: {mark} {at} {detail}",
    },
    "pause": {"id": "⏸️ Jeda", "en": "⏸️ Pause"},
    "resume": {"id": "▶️ Lanjutkan", "en": "▶️ Resume"},
    "paused": {"id": "⏸️ Dijeda.", "en": "⏸️ Paused."},
    "resumed": {"id": "▶️ Dilanjutkan.", "en": "▶️ Resumed."},
    "daily_now": {"id": "📅 Buat cadangan harian sekarang", "en": "📅 Run daily backup now"},
    # weekdays, as settings name them
    "day_monday": {"id": "Senin", "en": "Monday"},
    "day_tuesday": {"id": "Selasa", "en": "Tuesday"},
    "day_wednesday": {"id": "Rabu", "en": "Wednesday"},
    "day_thursday": {"id": "Kamis", "en": "Thursday"},
    "day_friday": {"id": "Jumat", "en": "Friday"},
    "day_saturday": {"id": "Sabtu", "en": "Saturday"},
    "day_sunday": {"id": "Minggu", "en": "Sunday"},
}  # fmt: skip

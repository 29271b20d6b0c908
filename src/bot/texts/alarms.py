"""The messages under the scheduler's alarms: the core writes them in English (one sentence
frame around names, times and a reason); the bot shows the frame in the admin's language.

Each "en" is the core's message as it is, `{...}` standing for what changes in it; the same
names go into the "id" variant. The reasons (`{reason}`, `{detail}`, `{error}`) stay as the
core says them. `alarm_body` in the package reads them, the first that fits the whole
message: a message fitting none is shown as it is. A `{kind}` is a backup type, shown in the
admin's language.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # a scheduled backup failed (src/services/backup_scheduler.py: failure_notice)
    "body_backup_retry": {
        "id": "Cadangan {kind} gagal: {reason}. Percobaan ulang {attempt} dari {retries} "
        "pukul {at}.",
        "en": "The {kind} backup failed: {reason}. Retry {attempt} of {retries} at {at}.",
    },
    "body_gave_up_once_at": {
        "id": "Cadangan {kind} gagal sekali, terakhir: {reason}. Tidak dicoba lagi sampai "
        "jadwal berikutnya pukul {at}. Lihat logs/errors.log; `python backup_manager.py "
        "diagnose` memeriksa database.",
        "en": "The {kind} backup failed once, last: {reason}. No more retries until the next "
        "scheduled run at {at}. See logs/errors.log; `python backup_manager.py diagnose` "
        "checks the database.",
    },
    "body_gave_up_once": {
        "id": "Cadangan {kind} gagal sekali, terakhir: {reason}. Tidak dicoba lagi sampai "
        "jadwal berikutnya. Lihat logs/errors.log; `python backup_manager.py diagnose` "
        "memeriksa database.",
        "en": "The {kind} backup failed once, last: {reason}. No more retries until the next "
        "scheduled run. See logs/errors.log; `python backup_manager.py diagnose` "
        "checks the database.",
    },
    "body_gave_up_at": {
        "id": "Cadangan {kind} gagal {attempts} kali, terakhir: {reason}. Tidak dicoba lagi "
        "sampai jadwal berikutnya pukul {at}. Lihat logs/errors.log; `python "
        "backup_manager.py diagnose` memeriksa database.",
        "en": "The {kind} backup failed {attempts} times, last: {reason}. No more retries "
        "until the next scheduled run at {at}. See logs/errors.log; `python "
        "backup_manager.py diagnose` checks the database.",
    },
    "body_gave_up": {
        "id": "Cadangan {kind} gagal {attempts} kali, terakhir: {reason}. Tidak dicoba lagi "
        "sampai jadwal berikutnya. Lihat logs/errors.log; `python backup_manager.py "
        "diagnose` memeriksa database.",
        "en": "The {kind} backup failed {attempts} times, last: {reason}. No more retries "
        "until the next scheduled run. See logs/errors.log; `python backup_manager.py "
        "diagnose` checks the database.",
    },
    "body_backup_failed": {
        "id": "Cadangan {kind} gagal: {reason}",
        "en": "The {kind} backup failed: {reason}",
    },
    # backups are late (src/services/scheduler_alarms.py)
    "body_stale_for": {
        "id": "Tidak ada cadangan {kind} yang berhasil selama {hours} jam (alarm pada {limit} "
        "jam). Apakah penjadwal berjalan? `python backup_manager.py status` menampilkannya.",
        "en": "No {kind} backup has succeeded for {hours} h (the alarm is at {limit} h). "
        "Is the scheduler running? `python backup_manager.py status` shows it.",
    },
    "body_stale_yet": {
        "id": "Belum ada cadangan {kind} yang berhasil (alarm pada {limit} jam). Apakah "
        "penjadwal berjalan? `python backup_manager.py status` menampilkannya.",
        "en": "No {kind} backup has succeeded yet (the alarm is at {limit} h). "
        "Is the scheduler running? `python backup_manager.py status` shows it.",
    },
    # off-machine copies
    "body_offsite_stale_none": {
        "id": "Tidak ada cadangan harian dari {hours} jam terakhir yang terverifikasi di "
        "tujuan di luar mesin {target} (di sana belum ada satu pun). Jika server hilang "
        "sekarang, cadangan ini ikut hilang. `python backup_manager.py status` menampilkan "
        "kesalahan terakhir; `offsite sync` mencoba lagi.",
        "en": "No daily backup made in the last {hours} h is verified on off-machine target "
        "{target} (the newest there: none yet). If the server is lost now, these backups are "
        "lost with it. `python backup_manager.py status` shows the last error; `offsite sync` "
        "retries.",
    },
    "body_offsite_stale": {
        "id": "Tidak ada cadangan harian dari {hours} jam terakhir yang terverifikasi di "
        "tujuan di luar mesin {target} (yang terbaru di sana: {newest}). Jika server hilang "
        "sekarang, cadangan ini ikut hilang. `python backup_manager.py status` menampilkan "
        "kesalahan terakhir; `offsite sync` mencoba lagi.",
        "en": "No daily backup made in the last {hours} h is verified on off-machine target "
        "{target} (the newest there: {newest}). If the server is lost now, these backups are "
        "lost with it. `python backup_manager.py status` shows the last error; `offsite sync` "
        "retries.",
    },
    "body_offsite_failed": {
        "id": "Salinan ke tujuan di luar mesin {target} gagal: {detail}. Cadangan lokal "
        "baik-baik saja; salinannya tetap tertunda dan dicoba lagi.",
        "en": "The copy to off-machine target {target} failed: {detail}. The local backup is "
        "fine; the copy stays pending and is retried.",
    },
    "body_offsite_drill_failed": {
        "id": "Uji pemulihan salinan terbaru di tujuan di luar mesin {target} gagal: {detail}. "
        "`python backup_manager.py offsite verify --target {target_again}` memeriksa "
        "salinannya.",
        "en": "The drill of the newest copy on off-machine target {target} failed: {detail}. "
        "`python backup_manager.py offsite verify --target {target_again}` checks its copies.",
    },
    # restore drills
    "body_replica_drill_failed": {
        "id": "Uji pemulihan replika {replica} gagal: {detail}. `python backup_manager.py "
        "status` menampilkan replikasinya.",
        "en": "The restore drill of the replica {replica} failed: {detail}. `python "
        "backup_manager.py status` shows the replication.",
    },
    "body_drill_failed": {
        "id": "Uji pemulihan {archive} gagal: {detail}. Cadangan itu mungkin tidak bisa "
        "dipulihkan; periksa semuanya: python backup_manager.py verify --all",
        "en": "The restore drill of {archive} failed: {detail}. The backup may not restore; "
        "check them all: python backup_manager.py verify --all",
    },
    # the replica: Litestream stopped or behind (the supervisor, the heartbeat)
    "body_replication_ended": {
        "id": "Litestream (replikasi berkelanjutan ke {replica}) berhenti ({exit}); ia "
        "dijalankan lagi dalam {wait} dtk, dan lagi dengan jeda yang makin panjang selama "
        "ia terus berhenti. Penulisan selama itu sampai ke replika begitu ia berjalan. "
        "{log} berisi pesannya sendiri.",
        "en": "Litestream (continuous replication to {replica}) ended ({exit}); it is "
        "restarted in {wait} s, and again with a growing wait while it keeps ending. Writes "
        "meanwhile reach the replica once it runs. {log} has its own words.",
    },
    "body_replication_no_start": {
        "id": "Replikasi berkelanjutan tidak dapat dimulai: {error}",
        "en": "Continuous replication could not start: {error}",
    },
    "body_replication_lag_error": {
        "id": "Replika {replica} tertinggal {lag} dari database aktif (alarm pada {limit}): "
        "penulisan selama itu akan hilang bersama server ini. Kesalahan terakhir: {error} "
        "`python backup_manager.py status` menampilkan replikasinya.",
        "en": "The replica {replica} is {lag} behind the live database (the alarm is at "
        "{limit}): writes of that time would be lost with this server. The last error: "
        "{error} `python backup_manager.py status` shows the replication.",
    },
    "body_replication_lag": {
        "id": "Replika {replica} tertinggal {lag} dari database aktif (alarm pada {limit}): "
        "penulisan selama itu akan hilang bersama server ini. `python backup_manager.py "
        "status` menampilkan replikasinya.",
        "en": "The replica {replica} is {lag} behind the live database (the alarm is at "
        "{limit}): writes of that time would be lost with this server. `python "
        "backup_manager.py status` shows the replication.",
    },
}  # fmt: skip

"""The steps of long jobs shown under the "⏳": the service core names them in English
(`src.services.progress`), the bot shows them in the admin's language.

Each "en" is the core's phrase as it is, `{...}` standing for a name in it (an archive, a
target); the same names go into the "id" variant. `step` in the package reads them: a phrase
matching none is shown as it is.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # making a backup
    "step_live_check": {"id": "memeriksa database aktif", "en": "checking the live database"},
    "step_snapshot": {"id": "mengambil snapshot", "en": "taking the snapshot"},
    "step_exports": {
        "id": "menyelesaikan ekspor SQL dan JSON",
        "en": "finishing the SQL and JSON exports",
    },
    "step_contents": {
        "id": "menambahkan berkas konfigurasi, data, dan log",
        "en": "adding the config, data and log files",
    },
    "step_compressing": {"id": "memampatkan {name}", "en": "compressing {name}"},
    "step_every_member": {
        "id": "memeriksa setiap berkas di arsip",
        "en": "checking every member",
    },
    "step_damaged": {
        "id": "membaca database yang rusak halaman demi halaman",
        "en": "reading the damaged database page by page",
    },
    "step_exporting": {"id": "mengekspor tabel", "en": "exporting the tables"},
    "step_sample": {
        "id": "membuat database contoh berisi {users} pengguna",
        "en": "creating a sample database of {users} users",
    },
    # rows saved from a damaged database
    "step_table_pages": {
        "id": "membaca halaman setiap tabel",
        "en": "reading every table's pages",
    },
    "step_lost_rows": {
        "id": "mencari baris di halaman yang tidak dijangkau tabel mana pun",
        "en": "looking for rows on pages no table reaches",
    },
    "step_rows_from_backup": {
        "id": "mengambil baris dari halaman yang hilang dari cadangan terbaru",
        "en": "taking the rows of lost pages from the newest backup",
    },
    "step_recovered": {
        "id": "menulis database hasil penyelamatan",
        "en": "writing the recovered database",
    },
    # restoring
    "step_unpacking": {
        "id": "memeriksa dan membongkar arsip",
        "en": "checking and unpacking the archive",
    },
    "step_copy_database": {
        "id": "memeriksa salinan database di arsip",
        "en": "checking the archive's database",
    },
    "step_copy_salvaged": {
        "id": "memeriksa salinan hasil penyelamatan di arsip",
        "en": "checking the archive's salvaged copy",
    },
    "step_copy_sql": {
        "id": "memeriksa dump SQL di arsip",
        "en": "checking the archive's SQL dump",
    },
    "step_copy_json": {
        "id": "memeriksa ekspor JSON di arsip",
        "en": "checking the archive's JSON export",
    },
    "step_writing_tables": {"id": "menulis tabel", "en": "writing the tables"},
    "step_writing_into": {"id": "menulis ke {name}", "en": "writing into {name}"},
    "step_writing": {"id": "menulis {name}", "en": "writing {name}"},
    "step_safety_lane": {"id": "salinan pengaman", "en": "safety copy"},
    "step_safety_check": {"id": "memeriksa salinan pengaman", "en": "checking the safety copy"},
    "step_safety_read": {
        "id": "membaca ulang salinan pengaman",
        "en": "reading the safety copy back",
    },
    # the replica (Litestream)
    "step_listing_replica": {
        "id": "membaca isi replika {where}",
        "en": "listing the replica {where}",
    },
    "step_from_replica": {
        "id": "memulihkan dari replika {where}",
        "en": "restoring from the replica {where}",
    },
    "step_restored_check": {
        "id": "memeriksa database yang dipulihkan",
        "en": "checking the restored database",
    },
    # off-machine copies
    "step_copying": {"id": "menyalin {archive} ke {target}", "en": "copying {archive} to {target}"},
    "step_fetching": {
        "id": "mengambil {copy} dari {target}",
        "en": "fetching {copy} from {target}",
    },
    "step_variant": {
        "id": "membuat varian khusus database dari {archive}",
        "en": "making the database-only variant of {archive}",
    },
}  # fmt: skip

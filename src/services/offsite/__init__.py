"""Off-machine copies: every verified archive, encrypted with age, on targets of its own.

`targets` holds one module per kind of destination (a folder, any rclone remote) behind
one interface; `crypto` streams age encryption; `ledger` remembers what each target
holds; `copying` uploads, verifies and prunes; `checking` downloads and proves copies;
`fetching` brings a copy back for a restore or a drill; `report` is the status section.
"""

"""Continuous replication of the live database through Litestream (REPLICA_URL).

`litestream` runs the program on a configuration written here; `supervisor` keeps
`litestream replicate` running beside the scheduler; `report` reads the positions for
`status` and the alarms; `restore` brings a moment of the replica back as a checked file.
"""

"""The stream kit every stage builds on: clients, reading to an end, compacted tables, owned offsets, dead letters."""

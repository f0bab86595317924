"""The store: the journal, snapshots, damage and repair, faults at every durable write, several processes."""

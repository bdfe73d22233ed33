"""Sources: where documents come from. A source lists partitions and reads one at a time."""

"""Training: the loop, its loss, checkpoints, schedule, distributed setup and launchers."""

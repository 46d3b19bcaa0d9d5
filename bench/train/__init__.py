"""Training: one loop for every entry (bench.train.loop), its optimizers and SAM."""

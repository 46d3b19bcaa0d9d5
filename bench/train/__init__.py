"""Training: one loop for every entry (bench.train.loop), its optimizers and SAM, the models (timm's and the
CIFAR architectures it lacks, bench.train.cifar), checks before a run (preflight) and reference recording."""

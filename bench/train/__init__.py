"""Training: one loop for every entry (bench.train.loop), its optimizers and SAM, the models (timm's, the
CIFAR architectures it lacks, bench.train.cifar, and google-research/sam's ImageNet ResNets,
bench.train.resnet_v1), checks before a run (preflight) and reference recording."""

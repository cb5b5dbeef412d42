"""Fine-tuning: training records and the paper's views, the training loop, checkpoints that resume,
several processes (DDP, FSDP2), and the offline base model."""

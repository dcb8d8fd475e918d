"""Fine-tuning: the typed config, the loop (steps, epochs, validation, early stopping, checkpoints, resume, DDP), the ways of training that plug into it, the model card."""

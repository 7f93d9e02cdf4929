"""Knowledge distillation: teacher/student losses, student builders, structured pruning."""

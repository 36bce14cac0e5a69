"""Runnable training recipes, one per task (also `zoo train TASK`)."""

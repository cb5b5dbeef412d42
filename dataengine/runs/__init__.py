"""Around a run: what it will cost (plan-cost), whether it can start (doctor), where it stands (status)."""

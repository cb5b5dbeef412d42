"""Scoring: items scored in batches, the reference each item alone, choices read from replies (rules,
then an LLM), metrics with intervals and the dev split's bad cases."""

"""Adaptive Bad-case Sampling: how much data of each type, from which images (their embeddings), with
which bad cases as examples."""

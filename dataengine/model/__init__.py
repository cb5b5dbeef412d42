"""Students as HF folders: the family adapters (the one seam for model families), building, saving
and loading, model inputs from the processor, which weights train, and LLaVA's parts assembled."""

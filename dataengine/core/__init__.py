"""The base layer: the config and its schema, prompt formats and question types, JSON lines, job logs,
images and their streamed batches, the guard of local pages. It imports no other layer."""

"""An OpenAI-compatible endpoint, as the teacher, the choice extractor and the prompt optimiser use it:
the client and its key (client.py), the content-addressed response cache (cache.py), the ledger of
every paid call beside it (ledger.py), and request, token and budget limits (limiter.py). It imports
nothing heavy: the workflow reads it at parse time."""

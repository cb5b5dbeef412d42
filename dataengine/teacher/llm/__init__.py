"""The `openai` teacher: any OpenAI-compatible Chat Completions endpoint writes the samples.

Prompts are files (prompts.py), replies are validated with the same checks as the oracle's
(dataengine.teacher.validate), every reply received is recorded in the ledger of paid calls and every
validated reply goes to a content-addressed cache (dataengine.endpoint), so a rerun, a resumed run
or a run sharing the cache never pays for a reply twice. Online mode (runner.py) keeps many requests
in flight under shared rate limits; batch mode (batch.py) uses the Batch API. `estimate` says what a
set of queries will cost before anything is spent (generation.py; `dataengine teacher estimate`).

The package itself imports nothing heavy: the workflow reads its settings at parse time.
"""

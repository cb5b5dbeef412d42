"""Interactive prompt optimisation (the paper's third module): rounds of generate -> review -> revise.

Each round generates a few samples of one type with the current prompt version, a reviewer (a person
in the terminal, a feedback file, or the automatic check against the annotation) marks each correct
or wrong with a note, and the LLM proposes a revised type definition from the failures and notes,
which the reviewer accepts, edits or rejects. Prompt versions are whole prompt folders saved under
<versions>/<version>/ (the version is the teacher's content hash), so pointing `teacher.prompts` at
one makes it an input of generation. Every step is appended to <sessions>/<qtype>/session.jsonl as
it happens: an interrupted session resumes at the first sample without a verdict.

Modules: `session` (options, verdicts and the session file), `versions` (saved prompt folders and
their diffs), `reviewers` (automatic, file, terminal), `loop` (a session's rounds, the revision
request, the history table).
"""

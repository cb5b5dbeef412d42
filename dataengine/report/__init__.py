"""The run's report, from the run's files: summary.json (a public contract) and summary.md (summary.py),
accuracy.png (figures.py) and index.html, the story of the run (page.py), over the run as loaded by
run.py; and the comparison of an experiment's arms (experiment.py)."""

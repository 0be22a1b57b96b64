"""The research toolkit every study imports, so each statistic and table is written once.

- `stats`: paired seed ratios, Student-t and bootstrap intervals, the data-efficiency factor.
- `tables`: CSV reading and writing, markdown tables, and the marked blocks of RESULTS files.
- `runs`: the run directories `orbjax.sweep` writes, read back.
- `paths`: where the repository, the committed data and the fetched public data live.
"""

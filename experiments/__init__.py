"""The studies behind orbjax's RESULTS files, run from the repository root as modules:
`python -m experiments.<study>.<script>` (no path set-up: the repository root is on the path).

`common/` holds what every study computes the same way (seed statistics, CSV tables, run
discovery, data locations); `data/` the committed data and the script that fetches the rest.
"""

"""Where an MD call's time goes (README.md); run as `python -m benchmarks.md_flatness.<script>`."""

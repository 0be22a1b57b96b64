"""orbjax's benchmarks against mace-torch (README.md); run from the repository root as
`python -m benchmarks.<script>`."""

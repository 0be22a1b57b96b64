"""The data the studies read: committed sets (with provenance and licences) and `fetch`,
which places the public ones under data/public/ (README.md)."""

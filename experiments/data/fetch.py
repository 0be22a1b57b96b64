"""Place the public data sets where the experiments read them, each file checked by SHA-256.

    python -m experiments.data.fetch                          # BOTNet from GitHub (network)
    # every set from a local copy (offline)
    python -m experiments.data.fetch --from ../shared/data
    python -m experiments.data.fetch --from DIR --only botnet/acac

Writes `data/public/` (git-ignored), laid out as `SHA256SUMS` lists it: `botnet/{acac,3BPA,
ethanol}/` (davkovacs/BOTNet-datasets, MIT: the training files only; its test sets are left
out on purpose) and `metals/` (Materials Virtual Lab mlearn/snap/maml training data, BSD-3,
converted to extended XYZ with stresses in eV/Å³, ASE sign: `metals/README.md` says how).
`--from DIR` copies from a directory with the same layout (e.g. `../shared/data`). Without
it, the BOTNet files come from the upstream commit below, byte-identical to the checksums;
the converted metals files have no public URL, so they need `--from`. Files already in
place with the right checksum are left alone; a file whose checksum differs is an error,
never written. The CHNO ωB97X set is committed (`experiments/data/chno/`), not fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from experiments.common.paths import COMMITTED_DATA, PUBLIC_DATA

MANIFEST = COMMITTED_DATA / "SHA256SUMS"
BOTNET_COMMIT = "29e6d467317e4b5967b7ea5cbee54de953fa0d45"
BOTNET_URL = f"https://raw.githubusercontent.com/davkovacs/BOTNet-datasets/{BOTNET_COMMIT}"
TIMEOUT_S = 30


def manifest(path: Path = MANIFEST) -> dict[str, str]:
    """{relative path: sha256} from a `sha256sum` file (lines starting with # are comments)."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*")] = digest
    return out


def url(name: str) -> str | None:
    """The public URL of a manifest file, or None (the converted metals files have none)."""
    parts = name.split("/")
    if parts[0] != "botnet":
        return None
    if len(parts) == 2:  # botnet/LICENSE
        return f"{BOTNET_URL}/{parts[1]}"
    return f"{BOTNET_URL}/dataset_{parts[1]}/{'/'.join(parts[2:])}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_source(name: str, source: Path | None) -> bytes:
    """The file's bytes from `source` (a local copy) or its URL; OSError when not reachable."""
    if source is not None:
        return (source / name).read_bytes()
    address = url(name)
    if address is None:
        raise FileNotFoundError(f"{name}: no public URL (converted data); use --from DIR")
    try:
        with urllib.request.urlopen(address, timeout=TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError) as error:
        raise ConnectionError(f"{address}: {getattr(error, 'reason', error)}") from error


def fetch(
    names: dict[str, str], dest: Path, source: Path | None
) -> tuple[list[str], list[str], list[str]]:
    """(placed, already there, unreachable reasons). A checksum mismatch raises ValueError."""
    placed, kept, unreachable = [], [], []
    offline = None  # the first connection error: no further download is tried
    for name, digest in names.items():
        target = dest / name
        if target.exists() and sha256(target.read_bytes()) == digest:
            kept.append(name)
            continue
        if offline is not None:
            unreachable.append(f"{name}: not tried after {offline}")
            continue
        try:
            data = read_source(name, source)
        except ConnectionError as error:
            offline = error
            unreachable.append(str(error))
            continue
        except OSError as error:
            unreachable.append(str(error))
            continue
        if sha256(data) != digest:
            raise ValueError(
                f"{name}: SHA-256 {sha256(data)} is not the expected {digest} (another version?)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, target)  # a reader never sees half a file
        placed.append(name)
    return placed, kept, unreachable


def select(names: dict[str, str], only: list[str]) -> dict[str, str]:
    """The manifest entries under any of the `only` prefixes (all when none)."""
    if not only:
        return names
    chosen = {
        n: d
        for n, d in names.items()
        if any(n == p or n.startswith(p.rstrip("/") + "/") for p in only)
    }
    if not chosen:
        raise SystemExit(f"fetch: --only {' '.join(only)} matches no file of {MANIFEST.name}")
    return chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="a local copy laid out like data/public (e.g. ../shared/data); default: download",
    )
    p.add_argument(
        "--only", nargs="+", default=[], metavar="PREFIX", help="e.g. botnet/acac metals"
    )
    p.add_argument("--dest", type=Path, default=PUBLIC_DATA, help="default: data/public")
    args = p.parse_args(argv)
    if args.source is not None and not args.source.is_dir():
        raise SystemExit(f"fetch: --from {args.source}: no such directory")
    names = select(manifest(), args.only)
    try:
        placed, kept, unreachable = fetch(names, args.dest, args.source)
    except ValueError as error:
        raise SystemExit(f"fetch: {error}") from None
    if unreachable and not placed and not kept:
        raise SystemExit(
            f"fetch: nothing reachable ({unreachable[0]}); pass --from DIR with a copy of "
            "botnet/ and metals/"
        )
    for reason in unreachable:
        print(f"missing: {reason}", file=sys.stderr)
    print(
        f"{args.dest}: {len(placed)} placed, {len(kept)} already there, {len(unreachable)} missing "
        f"({len(names)} files checked against {MANIFEST.relative_to(COMMITTED_DATA.parents[1])})"
    )
    return 1 if unreachable else 0


if __name__ == "__main__":
    sys.exit(main())

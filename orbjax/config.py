"""Helpers for config files in `configs/`: they build on each other by file path, so a
config works from any working directory (`--config /abs/path/configs/test.py`)."""

from __future__ import annotations

import importlib.util
import os


def load_config_module(path: str):
    """Import a config file by path and return the module (it must define get_config)."""
    name = "orbjax_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sibling_config(this_file: str, name: str):
    """`get_config()` of configs/<name>.py next to `this_file`."""
    return load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(this_file)), f"{name}.py")
    ).get_config()


# ----------------------------------------------------------------------------- --help_config
# The config files document their own fields: `config.a.b = value  # what it does`. Reading
# those comments keeps one source for a field's value and meaning (no schema to drift).


def config_chain(path: str) -> list[str]:
    """`path` and every config file it builds on through `sibling_config(__file__, name)`,
    the most basic first (e.g. [configs/default.py, configs/orbital.py,
    configs/orbital_shuffled.py])."""
    import ast

    path = os.path.abspath(path)
    chain: list[str] = []
    todo = [path]
    while todo:
        current = todo.pop()
        if current in chain or not os.path.isfile(current):
            continue
        chain.insert(0, current)
        with open(current, encoding="utf-8") as f:
            tree = ast.parse(f.read(), current)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "sibling_config"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
            ):
                todo.append(os.path.join(os.path.dirname(current), f"{node.args[1].value}.py"))
    return chain


def field_comments(path: str) -> dict[str, str]:
    """{"data.split_by": comment} from the comments of `config.<field> = ...` lines: the
    trailing one, else the comment block directly above the line."""
    import io
    import tokenize

    with open(path, encoding="utf-8") as f:
        tokens = list(tokenize.generate_tokens(io.StringIO(f.read()).readline))
    out: dict[str, str] = {}
    line: list[tokenize.TokenInfo] = []
    for tok in tokens:
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            _record(line, out)
            line = []
        elif tok.type not in (tokenize.INDENT, tokenize.DEDENT):
            line.append(tok)
    return out


def _record(line, out: dict[str, str]) -> None:
    import tokenize

    code = [t for t in line if t.type not in (tokenize.COMMENT, tokenize.NL)]
    if len(code) < 4 or code[0].string != "config":
        return
    parts, i = [], 1
    while i + 1 < len(code) and code[i].string == "." and code[i + 1].type == tokenize.NAME:
        parts.append(code[i + 1].string)
        i += 2
    comments = [
        t.string.lstrip("#").strip()
        for t in line  # the comment on the line itself first
        if t.type == tokenize.COMMENT and t.start[0] >= code[0].start[0]
    ] or _comment_above(line, code[0].start[0])
    if parts and i < len(code) and code[i].string == "=" and comments:
        out[".".join(parts)] = comments[0]


def _comment_above(line, first_code_line: int) -> list[str]:
    """The comment block directly above a statement (no blank line between), as one text."""
    import tokenize

    by_line = {t.start[0]: t.string for t in line if t.type == tokenize.COMMENT}
    block, k = [], first_code_line - 1
    while k in by_line:
        block.insert(0, by_line[k].lstrip("#").strip())
        k -= 1
    return [" ".join(block)] if block else []


def flatten_config(config, prefix: str = "") -> list[tuple[str, object]]:
    """[("data.split_by", "mol_id"), ...]: every leaf field (an empty section is a leaf)."""
    out = []
    for key in sorted(config.keys()):
        value = config[key]
        if hasattr(value, "keys") and len(value):
            out.extend(flatten_config(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value.to_dict() if hasattr(value, "to_dict") else value))
    return out


def describe_config(config, path: str) -> str:
    """Every field of `config` with its value and the comment of the config file that sets it
    (the most basic file's comment: it says what the field is; later files say why they change
    it)."""
    meanings: dict[str, str] = {}
    for file in config_chain(path):
        for key, comment in field_comments(file).items():
            meanings.setdefault(key, comment)
    rows = [(key, repr(value), meanings.get(key, "")) for key, value in flatten_config(config)]
    width = max(len(k) for k, _, _ in rows)
    vwidth = min(max(len(v) for _, v, _ in rows), 22)
    lines = [f"Fields of {path} with their values; override one with --config.<field>=<value>."]
    lines += [f"  {k:<{width}}  {v:<{vwidth}}  {m}".rstrip() for k, v, m in rows]
    return "\n".join(lines)

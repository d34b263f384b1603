#!/usr/bin/env python3
"""Regenerates the tutorial notebooks (notebooks/*.ipynb) from their sources in notebooks/src/.

Each source is a Rust file in the "percent" format: `// %%` starts a code cell and
`// %% [markdown]` a markdown cell whose lines are `// ` comments. Keeping the sources as
plain Rust makes them easy to review and diff; the notebooks are written with outputs
cleared. `python3 notebooks/build.py --check` fails if a notebook is out of date.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "rustpx", "display_name": "Rust (parallel)", "language": "rust"}
LANGUAGE_INFO = {
    "name": "rust",
    "file_extension": ".rs",
    "mimetype": "text/rust",
    "pygments_lexer": "rust",
    "codemirror_mode": "rust",
}


def parse(text):
    """Split a percent-format source into (cell_type, source) pairs."""
    cells = []
    kind, lines = None, []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            if body:
                cells.append((kind, body))

    for line in text.splitlines():
        if line.startswith("// %%"):
            flush()
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        elif kind == "markdown":
            if line.strip() and not line.startswith("//"):
                raise ValueError(f"markdown line without // prefix: {line!r}")
            lines.append(line[3:] if line.startswith("// ") else line[2:])
        elif kind == "code":
            lines.append(line)
    flush()
    return cells


def notebook(stem, cells):
    out = []
    for i, (kind, body) in enumerate(cells):
        cell = {
            "cell_type": kind,
            "id": f"{stem[:2]}-{i:03d}",
            "metadata": {},
            "source": body.splitlines(keepends=True),
        }
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        out.append(cell)
    return {
        "cells": out,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for src in sorted((HERE / "src").glob("*.rs")):
        target = HERE / f"{src.stem}.ipynb"
        text = json.dumps(notebook(src.stem, parse(src.read_text())), indent=1, ensure_ascii=False) + "\n"
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(HERE.parent)}")
    if stale:
        sys.exit("out of date (run python3 notebooks/build.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""iwkgen: generates iwkit's C code and documentation from the declarative specs in spec/.

    iwkgen.py --check SPEC...                      load and check only
    iwkgen.py --c-out DIR [--docs-out DIR] SPEC...  write iwk_status.[ch], iwk_<layer>.[ch], docs

Pipeline: load (gen/iwkspec/loader.py) -> check -> typed model (gen/iwkspec/model.py) -> emitters
(gen/emitters/). The same specs always give byte-identical output. Standard library only.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from iwkspec.lexer import SpecError  # noqa: E402
from iwkspec.loader import load  # noqa: E402
from emitters import emit_c, emit_catalog, emit_docs  # noqa: E402


def write_if_changed(path, text):
    """Writes text to path unless it already holds exactly that (keeps build timestamps stable)."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            if fh.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("specs", nargs="+", help="spec/*.iws files, one per protocol layer")
    ap.add_argument("--check", action="store_true", help="only load and check the specs")
    ap.add_argument("--c-out", help="directory for generated C")
    ap.add_argument("--docs-out", help="directory for generated Markdown")
    ap.add_argument("--stamp", help="file to touch when done (for build systems)")
    args = ap.parse_args(argv)
    try:
        spec = load(args.specs)
    except SpecError as err:
        print(f"iwkgen: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"iwkgen: error: {err}", file=sys.stderr)
        return 1
    if args.check:
        print(f"iwkgen: {len(spec.layers)} layer(s), {len(spec.all_headers())} header(s), "
              f"{len(spec.all_enums())} enum(s), {len(spec.status_codes())} status codes: OK")
        return 0
    names = [os.path.join("spec", os.path.basename(p)) for p in args.specs]
    if args.c_out:
        os.makedirs(args.c_out, exist_ok=True)
        h, c = emit_c.emit_status(spec, names)
        write_if_changed(os.path.join(args.c_out, "iwk_status.h"), h)
        write_if_changed(os.path.join(args.c_out, "iwk_status.c"), c)
        h, c = emit_catalog.emit_catalog(spec, names)
        write_if_changed(os.path.join(args.c_out, "iwk_catalog.h"), h)
        write_if_changed(os.path.join(args.c_out, "iwk_catalog.c"), c)
        for layer, src in zip(spec.layers, names):
            h, c = emit_c.emit_layer(layer, src)
            write_if_changed(os.path.join(args.c_out, f"iwk_{layer.name}.h"), h)
            write_if_changed(os.path.join(args.c_out, f"iwk_{layer.name}.c"), c)
    if args.docs_out:
        os.makedirs(args.docs_out, exist_ok=True)
        for layer, src in zip(spec.layers, names):
            write_if_changed(os.path.join(args.docs_out, f"{layer.name}.md"), emit_docs.emit_layer(layer, src))
        write_if_changed(os.path.join(args.docs_out, "README.md"), emit_docs.emit_index(spec, names))
    if args.stamp:
        write_if_changed(args.stamp, "ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

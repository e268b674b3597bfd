#!/usr/bin/env python3
"""iwkgen: generates iwkit's C code and documentation from the declarative specs in spec/.

    iwkgen.py --check SPEC...                      load and check only
    iwkgen.py --c-out DIR [--docs-out DIR] SPEC...  write iwk_status.[ch], iwk_<layer>.[ch], docs
    iwkgen.py --lua-out DIR SPEC...                 write iwkit.lua, the Wireshark dissector

Pipeline: load (gen/iwkspec/loader.py) -> check -> typed model (gen/iwkspec/model.py) -> emitters
(gen/emitters/). The same specs always give byte-identical output. Standard library only.
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from iwkspec.lexer import SpecError  # noqa: E402
from iwkspec.loader import load  # noqa: E402
from emitters import emit_c, emit_catalog, emit_docs  # noqa: E402
from emitters import emit_fsm_c, emit_fsm_docs, emit_promela, emit_dot  # noqa: E402
from emitters import emit_stream_c  # noqa: E402
from emitters import emit_fuzz  # noqa: E402
from emitters import emit_lua  # noqa: E402


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
    ap.add_argument("--lua-out", help="directory for the Wireshark Lua dissector iwkit.lua")
    ap.add_argument("--promela-out", help="directory for Promela models (one per compose item)")
    ap.add_argument("--fuzz-out", help="directory for fuzz/'s model header and dictionary (iwk_fuzz_model.h, iwkit.dict)")
    ap.add_argument("--machines-out", help="directory for machine pictures (.dot) and truth tables (.md)")
    ap.add_argument("--render-svg", action="store_true",
                    help="with --machines-out: also render each .dot to .svg with Graphviz's dot, when installed")
    ap.add_argument("--mutate", action="append", default=[], metavar="MACHINE:LINE:NAME=EXPR",
                    help="test only: replace an action of the transition at LINE (a deliberately broken variant)")
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
            if layer.machines:
                h, c = emit_fsm_c.emit_layer(layer, src)
            else:
                h, c = emit_c.emit_layer(layer, src)
            write_if_changed(os.path.join(args.c_out, f"iwk_{layer.name}.h"), h)
            write_if_changed(os.path.join(args.c_out, f"iwk_{layer.name}.c"), c)
            for st in layer.streams:
                h, c = emit_stream_c.emit_stream(st, src)
                write_if_changed(os.path.join(args.c_out, f"iwk_{st.name}.h"), h)
                write_if_changed(os.path.join(args.c_out, f"iwk_{st.name}.c"), c)
    if args.docs_out:
        os.makedirs(args.docs_out, exist_ok=True)
        for layer, src in zip(spec.layers, names):
            text = emit_fsm_docs.emit_layer(layer, src) if layer.machines else emit_docs.emit_layer(layer, src)
            write_if_changed(os.path.join(args.docs_out, f"{layer.name}.md"), text)
        write_if_changed(os.path.join(args.docs_out, "README.md"), emit_docs.emit_index(spec, names))
    if args.lua_out:
        try:
            text = emit_lua.emit_lua(spec, names)
        except emit_lua.LuaEmitError as err:
            print(f"iwkgen: error: --lua-out: {err}", file=sys.stderr)
            return 1
        os.makedirs(args.lua_out, exist_ok=True)
        write_if_changed(os.path.join(args.lua_out, "iwkit.lua"), text)
    if args.mutate:
        try:
            emit_promela.mutate(spec, args.mutate)
        except ValueError as err:
            print(f"iwkgen: error: --mutate: {err}", file=sys.stderr)
            return 1
    if args.promela_out:
        os.makedirs(args.promela_out, exist_ok=True)
        for layer, src in zip(spec.layers, names):
            for comp in layer.composes:
                write_if_changed(os.path.join(args.promela_out, f"{comp.name}.pml"), emit_promela.emit_compose(comp, src))
    if args.fuzz_out:
        os.makedirs(args.fuzz_out, exist_ok=True)
        src = ", ".join(names)
        write_if_changed(os.path.join(args.fuzz_out, "iwk_fuzz_model.h"), emit_fuzz.emit_model_h(spec, src))
        write_if_changed(os.path.join(args.fuzz_out, "iwkit.dict"), emit_fuzz.emit_dict(spec))
    if args.machines_out:
        os.makedirs(args.machines_out, exist_ok=True)
        for layer, src in zip(spec.layers, names):
            for m in layer.machines:
                dot_path = os.path.join(args.machines_out, f"{m.name}.dot")
                write_if_changed(dot_path, emit_dot.emit_machine(m, src))
                if args.render_svg and shutil.which("dot"):
                    subprocess.run(["dot", "-Tsvg", dot_path, "-o", dot_path[:-4] + ".svg"], check=True)
            for comp in layer.composes:
                if comp.tables:
                    write_if_changed(os.path.join(args.machines_out, f"{comp.name}_truth_table.md"),
                                     emit_fsm_docs.emit_truth_table(comp, src))
    if args.stamp:
        write_if_changed(args.stamp, "ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

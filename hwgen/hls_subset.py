#!/usr/bin/env python3
"""hls_subset: checks that C files keep to iwkit's HLS subset (docs/hwgen.md), without an HLS tool.

    hls_subset.py [-I DIR]... [--stamp FILE] FILE.c...

Parses each file with pycparser (Debian python3-pycparser) after the C preprocessor and rejects:
  includes other than <stdint.h> and local "hw_*.h" headers; calls to any function not defined in
  the file (libc, heap: malloc/free/alloca, builtins); recursion (any cycle in the call graph);
  function pointers (declared, or called through an expression); variable-length arrays and
  arrays without a constant size; while, do and goto; for loops that are not
  `for (i = CONST; i < CONST; i++)` with i untouched in the body; shifts whose amount is not a
  constant below the operand's width nor masked below it (`x << (n & 63u)`); floating point;
  unions, bit-fields, static locals; integer types other than the fixed-width <stdint.h> ones.
Prints `FILE:LINE: hls-subset: MESSAGE` per violation; exit 1 if there is any, else writes the
stamp (for build systems) and exits 0.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

from pycparser import c_ast, c_parser

FIXED = {f"{s}int{n}_t": n for s in ("u", "") for n in (8, 16, 32, 64)}
ALLOWED_TYPES = set(FIXED) | {"void"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
STDINT = "".join(f"typedef {'unsigned ' if s == 'u' else 'signed '}{t} {s}int{n}_t;\n"
                 for s in ("u", "") for n, t in ((8, "char"), (16, "short"), (32, "int"), (64, "long long")))


class Checker(c_ast.NodeVisitor):
    def __init__(self, path):
        self.path = path
        self.problems = []
        self.defined = {}          # function name -> FuncDef
        self.calls = {}            # function name -> set of called names
        self.current = None
        self.widths = [{}]         # scopes: variable name -> bit width of its (element) type
        self.fields = {}           # struct member name -> bit width
        self.loop_vars = []
        self.members = set()       # id() of Decl nodes that are struct members
        self.callees = set()       # id() of ID nodes that name the function of a call

    def bad(self, node, msg):
        line = node.coord.line if node is not None and node.coord else 0
        self.problems.append(f"{self.path}:{line}: hls-subset: {msg}")

    # -- declarations
    def visit_FileAST(self, node):
        for ext in node.ext:
            if isinstance(ext, c_ast.FuncDef):
                self.defined[ext.decl.name] = ext
        self.generic_visit(node)

    def visit_FuncDef(self, node):
        self.visit(node.decl)
        self.current = node.decl.name
        self.calls.setdefault(self.current, set())
        self.widths.append({})
        for p in (node.decl.type.args.params if node.decl.type.args else []):
            if isinstance(p, c_ast.Decl) and p.name and type_width(p.type):
                self.widths[-1][p.name] = type_width(p.type)
        self.visit(node.body)
        self.widths.pop()
        self.current = None

    def visit_Compound(self, node):
        self.widths.append({})
        self.generic_visit(node)
        self.widths.pop()

    def visit_Decl(self, node):
        if node.bitsize is not None:
            self.bad(node, f"bit-field '{node.name}'")
        if self.current is not None and "static" in node.storage:
            self.bad(node, f"static local '{node.name}' (keep state in the block's struct)")
        self.check_type(node.type, node)
        width = type_width(node.type)
        if node.name is not None and width is not None:
            if id(node) in self.members:
                self.fields[node.name] = width
            else:
                self.widths[-1][node.name] = width
        self.generic_visit(node)

    def visit_Struct(self, node):
        for d in node.decls or []:
            self.members.add(id(d))
        self.generic_visit(node)

    def visit_Union(self, node):
        self.bad(node, "union")
        self.generic_visit(node)

    def check_type(self, t, where):
        while True:
            if isinstance(t, c_ast.PtrDecl) and isinstance(t.type, c_ast.FuncDecl):
                self.bad(where, "function pointer")
                return
            if isinstance(t, c_ast.ArrayDecl):
                if t.dim is None:
                    self.bad(where, f"array '{getattr(where, 'name', '')}' without a constant size")
                elif const_value(t.dim) is None:
                    self.bad(where, f"variable-length array '{getattr(where, 'name', '')}'")
            if isinstance(t, c_ast.FuncDecl):
                for p in (t.args.params if t.args else []):
                    if isinstance(p, c_ast.Decl):
                        self.check_type(p.type, p)
            if isinstance(t, c_ast.IdentifierType):
                names = [n for n in t.names if n not in ("const", "volatile")]
                if any(n in ("float", "double") for n in names):
                    self.bad(where, "floating point type")
                elif not (len(names) == 1 and names[0] in ALLOWED_TYPES):
                    self.bad(where, f"type '{' '.join(t.names)}' (only fixed-width <stdint.h> integers)")
                return
            if not hasattr(t, "type") or t.type is None:
                return
            t = t.type

    def visit_Typename(self, node):
        self.check_type(node.type, node)
        self.generic_visit(node)

    def visit_Constant(self, node):
        if node.type in ("float", "double"):
            self.bad(node, f"floating point constant {node.value}")

    # -- calls
    def visit_FuncCall(self, node):
        if not isinstance(node.name, c_ast.ID):
            self.bad(node, "call through a function pointer")
        elif node.name.name not in self.defined:
            if any(node.name.name in scope for scope in self.widths[1:]):
                self.bad(node, f"call through the function pointer '{node.name.name}'")
            else:
                self.bad(node, f"call to '{node.name.name}', which is not defined here (libc, heap or builtin)")
        elif self.current is not None:
            self.calls[self.current].add(node.name.name)
        self.generic_visit(node)

    def visit_ID(self, node):
        # a defined function named without being called: its address is taken
        if node.name in self.defined and id(node) not in self.callees:
            self.bad(node, f"address of function '{node.name}' taken (function pointer)")

    def generic_visit(self, node):
        if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID):
            self.callees.add(id(node.name))
        for _, child in node.children():
            self.visit(child)

    # -- control flow
    def visit_While(self, node):
        self.bad(node, "while loop (only for loops with literal bounds)")
        self.generic_visit(node)

    def visit_DoWhile(self, node):
        self.bad(node, "do-while loop (only for loops with literal bounds)")
        self.generic_visit(node)

    def visit_Goto(self, node):
        self.bad(node, "goto")

    def visit_For(self, node):
        var = bounded_for(node)
        if var is None:
            self.bad(node, "loop without a literal bound (for (i = C; i < C; i++) only)")
        for part in (node.init, node.cond, node.next):
            if part is not None:
                self.visit(part)
        if var is not None:
            self.loop_vars.append(var)
        self.visit(node.stmt)
        if var is not None:
            self.loop_vars.pop()

    def visit_Assignment(self, node):
        if isinstance(node.lvalue, c_ast.ID) and node.lvalue.name in self.loop_vars:
            self.bad(node, f"loop counter '{node.lvalue.name}' assigned in the loop body (unbounded loop)")
        if node.op in ("<<=", ">>="):
            self.check_shift(node, node.lvalue, node.rvalue)
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if node.op in ("++", "--", "p++", "p--") and isinstance(node.expr, c_ast.ID) \
                and node.expr.name in self.loop_vars:
            self.bad(node, f"loop counter '{node.expr.name}' changed in the loop body (unbounded loop)")
        self.generic_visit(node)

    # -- shifts
    def visit_BinaryOp(self, node):
        if node.op in ("<<", ">>"):
            self.check_shift(node, node.left, node.right)
        self.generic_visit(node)

    def check_shift(self, node, left, amount):
        width = self.expr_width(left)
        n = const_value(amount)
        if n is not None:
            if n < 0 or n >= width:
                self.bad(node, f"shift by {n} of a {width}-bit operand")
            return
        if isinstance(amount, c_ast.BinaryOp) and amount.op == "&":
            mask = const_value(amount.right)
            if mask is None:
                mask = const_value(amount.left)
            if mask is not None and 0 <= mask < width:
                return
        self.bad(node, f"shift amount not provably below {width} (use a constant or mask it: (n & {width - 1}u))")

    def expr_width(self, e):
        """The bit width of an expression after integer promotion (unknown: 64)."""
        if isinstance(e, c_ast.Cast):
            w = type_width(e.to_type.type)
            return max(32, w) if w else 64
        if isinstance(e, c_ast.Constant):
            v = e.value.lower()
            return 64 if "ll" in v or "l" in v.rstrip("u") else 32
        if isinstance(e, c_ast.ID):
            for scope in reversed(self.widths):
                if e.name in scope:
                    return max(32, scope[e.name])
            return 64
        if isinstance(e, c_ast.ArrayRef):
            return self.expr_width(e.name)
        if isinstance(e, c_ast.StructRef):
            return max(32, self.fields.get(e.field.name, 64))
        if isinstance(e, c_ast.UnaryOp):
            return self.expr_width(e.expr)
        if isinstance(e, c_ast.BinaryOp):
            if e.op in ("<<", ">>"):
                return self.expr_width(e.left)
            if e.op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||"):
                return 32
            return max(self.expr_width(e.left), self.expr_width(e.right))
        if isinstance(e, c_ast.TernaryOp):
            return max(self.expr_width(e.iftrue), self.expr_width(e.iffalse))
        return 64

    # -- after the walk
    def check_recursion(self):
        state = {}

        def dfs(f, stack):
            state[f] = 1
            for g in sorted(self.calls.get(f, ())):
                if state.get(g) == 1:
                    cycle = stack[stack.index(g):] + [g] if g in stack else [f, g]
                    self.bad(self.defined[g], "recursion: " + " -> ".join(cycle))
                elif g not in state:
                    dfs(g, stack + [g])
            state[f] = 2

        for f in sorted(self.calls):
            if f not in state:
                dfs(f, [f])


def type_width(t):
    while t is not None and not isinstance(t, c_ast.IdentifierType):
        if isinstance(t, (c_ast.Struct, c_ast.Union, c_ast.Enum)):
            return None
        t = getattr(t, "type", None)
    if t is None:
        return None
    names = [n for n in t.names if n not in ("const", "volatile")]
    return FIXED.get(names[0]) if len(names) == 1 else None


def const_value(e):
    """The value of an integer constant expression, else None."""
    if isinstance(e, c_ast.Constant) and e.type in ("int", "unsigned int", "long int", "unsigned long int",
                                                     "long long int", "unsigned long long int", "char"):
        v = e.value.lower().rstrip("ul")
        try:
            return int(v, 0) if not (len(v) > 1 and v[0] == "0" and v[1].isdigit()) else int(v, 8)
        except ValueError:
            return None
    if isinstance(e, c_ast.BinaryOp):
        a, b = const_value(e.left), const_value(e.right)
        if a is None or b is None:
            return None
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "&": lambda: a & b,
               "|": lambda: a | b, "^": lambda: a ^ b, "<<": lambda: a << b if 0 <= b < 64 else None,
               ">>": lambda: a >> b if 0 <= b < 64 else None,
               "/": lambda: a // b if b else None, "%": lambda: a % b if b else None}
        return ops[e.op]() if e.op in ops else None
    if isinstance(e, c_ast.Cast):
        return const_value(e.expr)
    return None


def bounded_for(node):
    """The counter of `for (i = C; i < C | i <= C | i != C; i++ | ++i | i += C)`, else None."""
    init, cond, nxt = node.init, node.cond, node.next
    var = None
    if isinstance(init, c_ast.DeclList) and len(init.decls) == 1 and const_value(init.decls[0].init) is not None:
        var = init.decls[0].name
    elif isinstance(init, c_ast.Assignment) and init.op == "=" and isinstance(init.lvalue, c_ast.ID) \
            and const_value(init.rvalue) is not None:
        var = init.lvalue.name
    if var is None or not isinstance(cond, c_ast.BinaryOp) or cond.op not in ("<", "<=", "!=") \
            or not (isinstance(cond.left, c_ast.ID) and cond.left.name == var) or const_value(cond.right) is None:
        return None
    if isinstance(nxt, c_ast.UnaryOp) and nxt.op in ("++", "p++") and isinstance(nxt.expr, c_ast.ID) \
            and nxt.expr.name == var:
        return var
    if isinstance(nxt, c_ast.Assignment) and nxt.op == "+=" and isinstance(nxt.lvalue, c_ast.ID) \
            and nxt.lvalue.name == var and (const_value(nxt.rvalue) or 0) > 0 and cond.op != "!=":
        return var
    return None


def check_includes(path, text, include_dirs):
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        kind, name = m.groups()
        if kind == "<" and name != "stdint.h":
            problems.append(f"{path}:{n}: hls-subset: #include <{name}> (only <stdint.h>)")
        if kind == '"':
            dirs = [os.path.dirname(os.path.abspath(path))] + include_dirs
            found = [os.path.join(d, name) for d in dirs if os.path.exists(os.path.join(d, name))]
            if not re.match(r"^hw_[a-z0-9_]+\.h$", os.path.basename(name)) or not found:
                problems.append(f'{path}:{n}: hls-subset: #include "{name}" (only generated hw_*.h headers)')
            else:
                with open(found[0], encoding="utf-8") as fh:
                    problems += check_includes(found[0], fh.read(), include_dirs)
    return problems


def check_file(path, include_dirs, fake_dir):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    problems = check_includes(path, text, include_dirs)
    if problems:
        return problems
    cmd = ["gcc", "-E", "-nostdinc", "-I", fake_dir] + [a for d in include_dirs for a in ("-I", d)] + [path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return [f"{path}:0: hls-subset: preprocessing failed: {r.stderr.strip()}"]
    try:
        ast = c_parser.CParser().parse(r.stdout, path)
    except Exception as err:   # pycparser raises ParseError; anything it cannot parse is outside the subset
        return [f"{path}:0: hls-subset: not parsed as plain C: {err}"]
    ck = Checker(path)
    ck.visit(ast)
    ck.check_recursion()
    return ck.problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("-I", dest="include", action="append", default=[])
    ap.add_argument("--stamp")
    args = ap.parse_args(argv)
    problems = []
    with tempfile.TemporaryDirectory() as fake:
        with open(os.path.join(fake, "stdint.h"), "w", encoding="utf-8") as fh:
            fh.write(STDINT)
        for path in args.files:
            problems += check_file(path, args.include, fake)
    for p in problems:
        print(p)
    if problems:
        print(f"hls-subset: {len(problems)} violation(s) in {len(args.files)} file(s)", file=sys.stderr)
        return 1
    print(f"hls-subset: {len(args.files)} file(s), 0 violations")
    if args.stamp:
        with open(args.stamp, "w", encoding="utf-8") as fh:
            fh.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

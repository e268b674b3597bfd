"""Tokenizer for spec/*.iws files. Every token remembers file and line for error messages."""
from dataclasses import dataclass


class SpecError(Exception):
    """A spec is wrong: carries file:line and a clear message."""

    def __init__(self, loc, message):
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Loc:
    file: str
    line: int

    def __str__(self):
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Token:
    kind: str   # 'ident', 'int', 'string', 'ref', 'punct', 'eof'
    text: str
    value: object
    loc: Loc


PUNCT2 = ("==", "!=", "<=", ">=", "..", "&&", "||", "->", "=>")
PUNCT1 = "{}();:=[]+-*/%?<>,!."


def _read_string(src, i, loc):
    """Reads a double-quoted string starting at src[i] == '"'. Returns (text, next index)."""
    out = []
    j = i + 1
    while j < len(src) and src[j] != '"':
        if src[j] == "\n":
            raise SpecError(loc, "unterminated string")
        if src[j] == "\\" and j + 1 < len(src) and src[j + 1] in '"\\':
            j += 1
        out.append(src[j])
        j += 1
    if j >= len(src):
        raise SpecError(loc, "unterminated string")
    return "".join(out), j + 1


def _read_number(src, i, loc):
    j = i
    while j < len(src) and (src[j].isalnum() or src[j] == "_"):
        j += 1
    text = src[i:j]
    try:
        if text.startswith(("0x", "0X")):
            value = int(text[2:], 16)
        elif text.startswith(("0b", "0B")):
            value = int(text[2:], 2)
        else:
            if not text.isdigit():
                raise ValueError(text)
            value = int(text, 10)
    except ValueError:
        raise SpecError(loc, f"bad number '{text}'") from None
    return text, value, j


def tokenize(src, filename):
    """Returns the list of tokens of one spec file, ending with an 'eof' token."""
    tokens = []
    i = 0
    line = 1
    n = len(src)
    while i < n:
        c = src[i]
        loc = Loc(filename, line)
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and src[i] != "\n":
                i += 1
        elif c == '"':
            text, i = _read_string(src, i, loc)
            tokens.append(Token("string", text, text, loc))
        elif c == "@":
            if i + 1 >= n or src[i + 1] != '"':
                raise SpecError(loc, "'@' must be followed by a quoted reference, e.g. @\"RFC 5044 §7.1\"")
            text, i = _read_string(src, i + 1, loc)
            tokens.append(Token("ref", text, text, loc))
        elif c.isdigit():
            text, value, i = _read_number(src, i, loc)
            tokens.append(Token("int", text, value, loc))
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            tokens.append(Token("ident", src[i:j], src[i:j], loc))
            i = j
        elif src[i:i + 2] in PUNCT2:
            tokens.append(Token("punct", src[i:i + 2], None, loc))
            i += 2
        elif c in PUNCT1:
            tokens.append(Token("punct", c, None, loc))
            i += 1
        else:
            raise SpecError(loc, f"unexpected character '{c}'")
    tokens.append(Token("eof", "", None, Loc(filename, line)))
    return tokens

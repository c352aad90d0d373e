"""Lexer of Go text/template: the item stream of Go's ``text/template/parse`` lexer.

Positions are byte offsets in the UTF-8 text (Go reports columns in bytes); the lexer
works on the ``str`` and converts offsets when the text is not pure ASCII.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Final

from shared.templating.gofmt import go_quote

__all__ = ["KEYWORDS", "Item", "lex"]

# item types
ERROR: Final = "error"
BOOL: Final = "bool"
CHAR: Final = "char"
CHAR_CONSTANT: Final = "charconst"
COMMENT: Final = "comment"
COMPLEX: Final = "complex"
ASSIGN: Final = "="
DECLARE: Final = ":="
EOF: Final = "EOF"
FIELD: Final = "field"
IDENTIFIER: Final = "identifier"
LEFT_DELIM: Final = "leftdelim"
LEFT_PAREN: Final = "("
NUMBER: Final = "number"
PIPE: Final = "|"
RAW_STRING: Final = "rawstring"
RIGHT_DELIM: Final = "rightdelim"
RIGHT_PAREN: Final = ")"
SPACE: Final = "space"
STRING: Final = "string"
TEXT: Final = "text"
VARIABLE: Final = "variable"
# keywords
BLOCK: Final = "block"
BREAK: Final = "break"
CONTINUE: Final = "continue"
DOT: Final = "."
DEFINE: Final = "define"
ELSE: Final = "else"
END: Final = "end"
IF: Final = "if"
NIL: Final = "nil"
RANGE: Final = "range"
TEMPLATE: Final = "template"
WITH: Final = "with"

KEYWORDS: Final = {
    ".": DOT,
    "block": BLOCK,
    "break": BREAK,
    "continue": CONTINUE,
    "define": DEFINE,
    "else": ELSE,
    "end": END,
    "if": IF,
    "range": RANGE,
    "nil": NIL,
    "template": TEMPLATE,
    "with": WITH,
}
_KEYWORD_TYPES: Final = frozenset(KEYWORDS.values())

SPACE_CHARS: Final = " \t\r\n"
_LEFT_COMMENT: Final = "/*"
_RIGHT_COMMENT: Final = "*/"


@dataclass(frozen=True, slots=True)
class Item:
    typ: str
    pos: int  # character offset in the text
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def is_space(ch: str) -> bool:
    return ch != "" and ch in SPACE_CHARS


def is_alnum(ch: str) -> bool:
    if ch == "":
        return False
    if ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9"):
        return True
    if ord(ch) < 0x80:
        return False
    cat = unicodedata.category(ch)
    return cat[0] == "L" or cat == "Nd"


def _unicode_name(ch: str) -> str:
    """Go's ``%#U``: ``U+0021 '!'``."""
    code = ord(ch)
    if ch.isprintable():
        return f"U+{code:04X} '{ch}'"
    return f"U+{code:04X}"


def _left_trim_length(s: str, start: int) -> int:
    i = start
    n = len(s)
    while i < n and s[i] in SPACE_CHARS:
        i += 1
    return i - start


def _right_trim_length(s: str) -> int:
    return len(s) - len(s.rstrip(SPACE_CHARS))


class _Lexer:
    def __init__(self, name: str, text: str, left: str, right: str) -> None:
        self.name = name
        self.input = text
        self.left = left or "{{"
        self.right = right or "}}"
        self.items: list[Item] = []
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.paren_depth = 0
        self.done = False

    # -- primitives -----------------------------------------------------------------
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.pos = len(self.input) + 1  # like Go: backup() restores
            return ""
        ch = self.input[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else ""

    def backup(self) -> None:
        if self.pos > len(self.input):
            self.pos = len(self.input)
            return
        if self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def emit(self, typ: str) -> None:
        self.items.append(Item(typ, self.start, self.input[self.start : self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        ch = self.next()
        if ch != "" and ch in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            ch = self.next()
            if ch == "" or ch not in valid:
                break
        self.backup()

    def error(self, msg: str) -> None:
        self.items.append(Item(ERROR, self.start, msg, self.start_line))
        self.done = True

    def at_right_delim(self) -> tuple[bool, bool]:
        s = self.input
        p = self.pos
        if (
            p + 1 < len(s)
            and s[p] in SPACE_CHARS
            and s[p + 1] == "-"
            and s.startswith(self.right, p + 2)
        ):
            return True, True
        if s.startswith(self.right, p):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        ch = self.peek()
        if ch == "" or ch in " \t\r\n.,|:()":
            return True
        return self.input.startswith(self.right, self.pos)

    # -- states ---------------------------------------------------------------------
    def run(self) -> list[Item]:
        state: Any = self.lex_text
        while not self.done:
            state = state()
        return self.items

    def lex_text(self) -> Any:
        s = self.input
        x = s.find(self.left, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                delim_end = x + len(self.left)
                if (
                    delim_end + 1 < len(s)
                    and s[delim_end] == "-"
                    and s[delim_end + 1] in SPACE_CHARS
                ):
                    trim = _right_trim_length(s[self.start : self.pos])
                self.pos -= trim
                self.line += s.count("\n", self.start, self.pos)
                text = s[self.start : self.pos]
                item = Item(TEXT, self.start, text, self.start_line)
                self.start = self.pos
                self.start_line = self.line
                self.pos += trim
                self.ignore()
                if text:
                    self.items.append(item)
            return self.lex_left_delim
        self.pos = len(s)
        if self.pos > self.start:
            self.line += s.count("\n", self.start, self.pos)
            self.items.append(Item(TEXT, self.start, s[self.start :], self.start_line))
            self.start = self.pos
        self.items.append(Item(EOF, self.pos, "", self.line))
        self.done = True
        return self.lex_text

    def lex_left_delim(self) -> Any:
        s = self.input
        self.pos += len(self.left)
        trim = self.pos + 1 < len(s) and s[self.pos] == "-" and s[self.pos + 1] in SPACE_CHARS
        after = 2 if trim else 0
        if s.startswith(_LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        item = Item(LEFT_DELIM, self.start, s[self.start : self.pos], self.start_line)
        self.pos += after
        self.ignore()
        self.items.append(item)
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> Any:
        s = self.input
        self.pos += len(_LEFT_COMMENT)
        x = s.find(_RIGHT_COMMENT, self.pos)
        if x < 0:
            self.error("unclosed comment")
            return self.lex_text
        self.pos = x + len(_RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
            return self.lex_text
        if trim:
            self.pos += 2
        self.pos += len(self.right)
        if trim:
            self.pos += _left_trim_length(s, self.pos)
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> Any:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(self.right)
        self.emit(RIGHT_DELIM)
        if trim:
            self.pos += _left_trim_length(self.input, self.pos)
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> Any:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            self.error("unclosed left paren")
            return self.lex_text
        ch = self.next()
        if ch == "":
            self.error("unclosed action")
        elif ch in SPACE_CHARS:
            self.backup()
            return self.lex_space
        elif ch == "=":
            self.emit(ASSIGN)
        elif ch == ":":
            if self.next() != "=":
                self.error("expected :=")
            else:
                self.emit(DECLARE)
        elif ch == "|":
            self.emit(PIPE)
        elif ch == '"':
            return self.lex_quote
        elif ch == "`":
            return self.lex_raw_quote
        elif ch == "$":
            return self.lex_variable
        elif ch == "'":
            return self.lex_char
        elif ch == "." and not ("0" <= self.peek() <= "9" and self.peek() != ""):
            return self.lex_field
        elif ch in "+-." or "0" <= ch <= "9":
            self.backup()
            return self.lex_number
        elif is_alnum(ch):
            self.backup()
            return self.lex_identifier
        elif ch == "(":
            self.paren_depth += 1
            self.emit(LEFT_PAREN)
        elif ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error("unexpected right paren")
            else:
                self.emit(RIGHT_PAREN)
        elif ord(ch) < 0x80 and ch.isprintable():
            self.emit(CHAR)
        else:
            self.error(f"unrecognized character in action: {_unicode_name(ch)}")
        return self.lex_inside_action

    def lex_space(self) -> Any:
        n = 0
        while is_space(self.peek()):
            self.next()
            n += 1
        s = self.input
        p = self.pos - 1
        if p + 1 < len(s) and s[p + 1] == "-" and s.startswith(self.right, p + 2):
            self.backup()
            if n == 1:
                return self.lex_inside_action
        self.emit(SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> Any:
        while True:
            ch = self.next()
            if is_alnum(ch):
                continue
            self.backup()
            word = self.input[self.start : self.pos]
            if not self.at_terminator():
                self.error(f"bad character {_unicode_name(ch)}")
                return self.lex_text
            if word in KEYWORDS:
                self.emit(KEYWORDS[word])
            elif word in ("true", "false"):
                self.emit(BOOL)
            else:
                self.emit(IDENTIFIER)
            return self.lex_inside_action

    def lex_field(self) -> Any:
        return self._field_or_variable(FIELD)

    def lex_variable(self) -> Any:
        if self.at_terminator():
            self.emit(VARIABLE)
            return self.lex_inside_action
        return self._field_or_variable(VARIABLE)

    def _field_or_variable(self, typ: str) -> Any:
        if self.at_terminator():
            self.emit(VARIABLE if typ == VARIABLE else DOT)
            return self.lex_inside_action
        ch = ""
        while True:
            ch = self.next()
            if not is_alnum(ch):
                self.backup()
                break
        if not self.at_terminator():
            self.error(f"bad character {_unicode_name(ch)}")
            return self.lex_text
        self.emit(typ)
        return self.lex_inside_action

    def lex_char(self) -> Any:
        return self._lex_escaped("'", "unterminated character constant", CHAR_CONSTANT)

    def lex_number(self) -> Any:
        if not self._scan_number():
            self.error(f"bad number syntax: {go_quote(self.input[self.start : self.pos])}")
            return self.lex_text
        sign = self.peek()
        if sign in ("+", "-") and sign != "":
            if not self._scan_number() or self.input[self.pos - 1] != "i":
                self.error(f"bad number syntax: {go_quote(self.input[self.start : self.pos])}")
                return self.lex_text
            self.emit(COMPLEX)
            return self.lex_inside_action
        self.emit(NUMBER)
        return self.lex_inside_action

    def _scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> Any:
        return self._lex_escaped('"', "unterminated quoted string", STRING)

    def _lex_escaped(self, end: str, unterminated: str, typ: Any) -> Any:
        """A quoted constant with backslash escapes, up to ``end`` on the same line."""
        while True:
            ch = self.next()
            if ch == "\\":
                ch2 = self.next()
                if ch2 not in ("", "\n"):
                    continue
                ch = ch2
            if ch in ("", "\n"):
                self.error(unterminated)
                return self.lex_text
            if ch == end:
                break
        self.emit(typ)
        return self.lex_inside_action

    def lex_raw_quote(self) -> Any:
        while True:
            ch = self.next()
            if ch == "":
                self.error("unterminated raw quoted string")
                return self.lex_text
            if ch == "`":
                break
        self.emit(RAW_STRING)
        return self.lex_inside_action


def lex(name: str, text: str, left: str = "{{", right: str = "}}") -> list[Item]:
    """All items of ``text``; the list ends with an EOF or an ERROR item."""
    return _Lexer(name, text, left, right).run()

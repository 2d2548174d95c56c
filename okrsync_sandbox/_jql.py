"""A small JQL: tokenizer, recursive-descent parser, and evaluation over any item type.

Grammar of the supported subset (keywords are case-insensitive):

    query    := [or_expr] [ORDER BY sort_key ("," sort_key)*]
    or_expr  := and_expr (OR and_expr)*
    and_expr := not_expr (AND not_expr)*
    not_expr := NOT not_expr | "(" or_expr ")" | clause
    clause   := field operator operand
    field    := word | "quoted name" | cf[NNNNN] | issue.property[KEY].path
    operator := = | != | > | >= | < | <= | IN | NOT IN | IS | IS NOT
    operand  := value | "(" value ("," value)* ")" | EMPTY | NULL
    sort_key := field [ASC | DESC]

Which fields exist, which operators they take and what their values mean is the
caller's business (`JqlField`); errors read like Jira's, so clients see the same text.

Entity properties (`issue.property[okrsync.kr].kr = "ONB-1"`) are fields whose values
the caller reads from the item's property `KEY` at the dotted `path` (see
`compile_jql`'s `entity_property`).

Semantics copied from Jira: `!=` and `NOT IN` never match an item whose field is empty;
`= EMPTY` / `IS EMPTY` match it. Dates are compared at minute precision (see `jql_date`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

T = TypeVar("T")

VALID_OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', "
    "'IN', 'NOT IN', 'IS' and 'IS NOT'."
)
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
)


class JqlError(ValueError):
    """A query Jira would refuse with 400; the message is the one to show the client."""


class JqlValueError(JqlError):
    """A well-formed clause naming a value that does not exist (a project, an issue key).
    Jira can downgrade these to warnings (`validateQuery=warn`); syntax errors never.
    """


# --- tokens ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<custom_field>cf\[\d+\])
  | (?P<entity_property>issue\.property\[[A-Za-z0-9_.\-]+\](?:\.[A-Za-z0-9_\-]+)*)
  | (?P<operator>!=|>=|<=|!~|=|>|<|~)
  | (?P<punct>[(),])
  | (?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[^\s"'=!<>(),~\[\]{}|&^*/%+$\#@?;]+)
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word, quoted, custom_field, operator, punct, end
    text: str  # for `quoted`, the unescaped content
    position: int  # 1-based character, as Jira reports it

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def shown(self) -> str:
        return "the end of the query" if self.kind == "end" else f"'{self.text}'"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            raise _unterminated_or_reserved(text, position)
        kind = found.lastgroup or ""
        if kind == "quoted":
            tokens.append(Token(kind, _unescape(found.group()[1:-1]), position + 1))
        elif kind != "space":
            tokens.append(Token(kind, found.group(), position + 1))
        position = found.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _unescape(content: str) -> str:
    return re.sub(r"\\(.)", r"\1", content)


def _unterminated_or_reserved(text: str, position: int) -> JqlError:
    if text[position] in "\"'":
        return JqlError(
            f"Error in the JQL Query: The quoted string '{text[position + 1 :]}' has not been "
            f"completed. (line 1, character {position + 1})"
        )
    return JqlError(
        f"Error in the JQL Query: The character '{text[position]}' is a reserved JQL character. "
        f"You must enclose it in a string or use the escape '\\u{ord(text[position]):04x}' "
        f"instead. (line 1, character {position + 1})"
    )


# --- syntax tree -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    text: str
    position: int


class Empty:
    """The EMPTY / NULL operand."""


EMPTY = Empty()
Operand = Value | tuple[Value, ...] | Empty


@dataclass(frozen=True, slots=True)
class Clause:
    field: str
    operator: str  # lower case: "=", "not in", "is not", ...
    operand: Operand
    position: int


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool


@dataclass(frozen=True, slots=True)
class Query:
    where: Node | None
    order_by: tuple[SortKey, ...]


# --- parser ----------------------------------------------------------------------------


def parse_jql(text: str) -> Query:
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    @property
    def _current(self) -> Token:
        return self._tokens[self._index]

    def _advance(self) -> Token:
        token = self._current
        self._index += 1
        return token

    def _fail(self, expected: str, suffix: str = "") -> JqlError:
        token = self._current
        place = "" if token.kind == "end" else f" (line 1, character {token.position})"
        got = "reached the end of the query" if token.kind == "end" else f"got {token.shown()}"
        tail = f" {suffix}" if suffix else ""
        return JqlError(f"Error in the JQL Query: Expecting {expected} but {got}.{tail}{place}")

    def query(self) -> Query:
        where = None
        if self._current.kind != "end" and not self._current.is_keyword("order"):
            where = self._or_expr()
        order_by = self._order_by() if self._current.is_keyword("order") else ()
        if self._current.kind != "end":
            raise self._fail("either 'OR' or 'AND'")
        return Query(where, order_by)

    def _or_expr(self) -> Node:
        parts = [self._and_expr()]
        while self._current.is_keyword("or"):
            self._advance()
            parts.append(self._and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and_expr(self) -> Node:
        parts = [self._not_expr()]
        while self._current.is_keyword("and"):
            self._advance()
            parts.append(self._not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _not_expr(self) -> Node:
        if self._current.is_keyword("not"):
            self._advance()
            return Not(self._not_expr())
        if self._current.text == "(" and self._current.kind == "punct":
            self._advance()
            inner = self._or_expr()
            if self._current.text != ")":
                raise self._fail("')'")
            self._advance()
            return inner
        return self._clause()

    def _field(self) -> str:
        token = self._current
        is_name = token.kind in ("quoted", "custom_field", "entity_property") or (
            token.kind == "word" and token.text.lower() not in KEYWORDS
        )
        if not is_name:
            raise self._fail("a field name")
        self._advance()
        return token.text

    def _clause(self) -> Clause:
        position = self._current.position
        field = self._field()
        operator = self._operator()
        return Clause(field, operator, self._operand(operator), position)

    def _operator(self) -> str:
        token = self._current
        if token.kind == "operator":
            self._advance()
            return token.text
        for first, second in (("not", "in"), ("is", "not")):
            if token.is_keyword(first) and self._tokens[self._index + 1].is_keyword(second):
                self._index += 2
                return f"{first} {second}"
        if token.is_keyword("in", "is"):
            self._advance()
            return token.text.lower()
        raise self._fail("operator", VALID_OPERATORS)

    def _operand(self, operator: str) -> Operand:
        if self._current.is_keyword("empty", "null"):
            self._advance()
            return EMPTY
        if operator.startswith("is"):
            raise self._fail("'EMPTY' or 'NULL'")
        if self._current.text == "(" and self._current.kind == "punct":
            return self._list()
        if operator in ("in", "not in"):
            raise self._fail("'('")
        return self._value()

    def _list(self) -> tuple[Value, ...]:
        self._advance()
        values = [self._value()]
        while self._current.text == ",":
            self._advance()
            values.append(self._value())
        if self._current.text != ")":
            raise self._fail("')'")
        self._advance()
        return tuple(values)

    def _value(self) -> Value:
        token = self._current
        if token.kind not in ("word", "quoted") or token.is_keyword(*KEYWORDS):
            raise self._fail("either a value, list or function")
        self._advance()
        if token.kind == "word" and self._current.text == "(":
            raise JqlError(
                f"Error in the JQL Query: Unable to find JQL function '{token.text}()'. "
                "The sandbox supports no JQL functions."
            )
        return Value(token.text, token.position)

    def _order_by(self) -> tuple[SortKey, ...]:
        self._advance()
        if not self._current.is_keyword("by"):
            raise self._fail("'by'")
        self._advance()
        keys = [self._sort_key()]
        while self._current.text == ",":
            self._advance()
            keys.append(self._sort_key())
        return tuple(keys)

    def _sort_key(self) -> SortKey:
        field = self._field()
        descending = False
        if self._current.is_keyword("asc", "desc"):
            descending = self._advance().text.lower() == "desc"
        return SortKey(field, descending)


# --- evaluation ------------------------------------------------------------------------

EQUALITY = frozenset({"=", "!=", "in", "not in", "is", "is not"})
ORDERING = frozenset({">", ">=", "<", "<="})


@dataclass(frozen=True)
class JqlField(Generic[T]):
    """How a JQL field reads an item.

    `values` gives the item's values for the field (several for list fields such as
    labels; none when empty), already normalized like `parse` normalizes operands.
    `parse` turns an operand's text into such a value, raising JqlError for values the
    field does not know. `sort_key`, when given, makes the field usable in ORDER BY; it
    must never return None.
    """

    name: str
    values: Callable[[T], Sequence[Any]]
    parse: Callable[[str], Any]
    operators: frozenset[str] = EQUALITY
    sort_key: Callable[[T], Any] | None = None


@dataclass(frozen=True)
class CompiledQuery(Generic[T]):
    matches: Callable[[T], bool]
    order_by: tuple[tuple[JqlField[T], bool], ...]
    warnings: tuple[str, ...] = ()

    def sort(self, items: Iterable[T], default: Sequence[tuple[JqlField[T], bool]]) -> list[T]:
        """Items in ORDER BY order (or `default`), most significant key first."""
        ordered = list(items)
        for field, descending in reversed(self.order_by or tuple(default)):
            assert field.sort_key is not None
            ordered.sort(key=field.sort_key, reverse=descending)
        return ordered


# `issue.property[KEY].path.to.value`: the property's key and the path inside its value.
ENTITY_PROPERTY = re.compile(
    r"^issue\.property\[([^\]]+)\]((?:\.[A-Za-z0-9_\-]+)*)$", re.IGNORECASE
)
EntityProperty = Callable[[str, tuple[str, ...]], "JqlField[T]"]


def compile_jql(
    query: Query,
    fields: Mapping[str, JqlField[T]],
    *,
    lenient: bool = False,
    entity_property: EntityProperty[T] | None = None,
) -> CompiledQuery[T]:
    """Check every clause against `fields` (keys: lower-case names) and build a predicate.

    `lenient`: a value that does not exist becomes a warning and matches nothing, as
    with Jira's validateQuery=warn; otherwise it raises JqlValueError.
    `entity_property(key, path)`: the field of an `issue.property[key].path` clause
    (None: such clauses name no field).
    """
    if entity_property is not None:
        fields = _WithProperties(fields, entity_property)
    compiler = _Compiler(fields, lenient)
    matches = compiler.node(query.where) if query.where else (lambda item: True)
    order_by = tuple((_sortable(key.field, fields), key.descending) for key in query.order_by)
    return CompiledQuery(matches, order_by, tuple(compiler.warnings))


class _WithProperties(Mapping[str, JqlField[T]]):
    """`fields`, plus every `issue.property[KEY].path` name, made by `entity_property`."""

    def __init__(self, fields: Mapping[str, JqlField[T]], entity_property: EntityProperty[T]):
        self._fields = fields
        self._entity_property = entity_property
        self._made: dict[str, JqlField[T]] = {}

    def __getitem__(self, name: str) -> JqlField[T]:
        match = ENTITY_PROPERTY.match(name)
        if match is None:
            return self._fields[name]
        if name not in self._made:
            path = tuple(part for part in match.group(2).split(".") if part)
            self._made[name] = self._entity_property(match.group(1), path)
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def _lookup(name: str, fields: Mapping[str, JqlField[T]]) -> JqlField[T]:
    field = fields.get(name.lower())
    if field is None:
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    return field


def _sortable(name: str, fields: Mapping[str, JqlField[T]]) -> JqlField[T]:
    field = _lookup(name, fields)
    if field.sort_key is None:
        raise JqlError(f"Field '{name}' does not support sorting.")
    return field


class _Compiler(Generic[T]):
    def __init__(self, fields: Mapping[str, JqlField[T]], lenient: bool) -> None:
        self._fields = fields
        self._lenient = lenient
        self.warnings: list[str] = []

    def node(self, node: Node) -> Callable[[T], bool]:
        if isinstance(node, And):
            parts = [self.node(part) for part in node.parts]
            return lambda item: all(part(item) for part in parts)
        if isinstance(node, Or):
            parts = [self.node(part) for part in node.parts]
            return lambda item: any(part(item) for part in parts)
        if isinstance(node, Not):
            inner = self.node(node.part)
            return lambda item: not inner(item)
        return self.clause(node, _lookup(node.field, self._fields))

    def clause(self, clause: Clause, field: JqlField[T]) -> Callable[[T], bool]:
        operator = clause.operator
        if operator not in field.operators:
            raise JqlError(
                f"The operator '{operator.upper()}' is not supported by the '{clause.field}' field."
            )
        values = field.values
        if isinstance(clause.operand, Empty):
            return _empty_test(operator, values)
        operands = clause.operand if isinstance(clause.operand, tuple) else (clause.operand,)
        wanted = self._parsed(field, operands)
        if operator in ("=", "in"):
            return lambda item: any(v in wanted for v in values(item))
        if operator in ("!=", "not in"):
            # Jira: a negative match never selects items whose field is empty.
            return lambda item: bool(values(item)) and not any(v in wanted for v in values(item))
        if len(operands) != 1:
            raise JqlError(f"The operator '{operator}' does not support a list of values.")
        if not wanted:  # the one value did not exist: nothing compares with it
            return lambda item: False
        return _ordering(operator, wanted[0], values)

    def _parsed(self, field: JqlField[T], operands: Sequence[Value]) -> list[Any]:
        parsed = []
        for operand in operands:
            try:
                parsed.append(field.parse(operand.text))
            except JqlValueError as error:
                if not self._lenient:
                    raise
                self.warnings.append(str(error))
        return parsed


def _empty_test(operator: str, values: Callable[[T], Sequence[Any]]) -> Callable[[T], bool]:
    if operator in ("=", "is"):
        return lambda item: not values(item)
    if operator in ("!=", "is not"):
        return lambda item: bool(values(item))
    raise JqlError(f"The operator '{operator.upper()}' does not support the EMPTY operand.")


def _ordering(
    operator: str, bound: Any, values: Callable[[T], Sequence[Any]]
) -> Callable[[T], bool]:
    compare: dict[str, Callable[[Any], bool]] = {
        ">": lambda v: v > bound,
        ">=": lambda v: v >= bound,
        "<": lambda v: v < bound,
        "<=": lambda v: v <= bound,
    }
    test = compare[operator]
    return lambda item: any(test(v) for v in values(item))


# --- dates -----------------------------------------------------------------------------

_PERIOD = re.compile(r"^([-+]?)((?:\d+[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)([wdhm])", re.IGNORECASE)
_PERIOD_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


def to_minute(moment: datetime) -> datetime:
    """JQL compares dates at minute precision: seconds and below do not count."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def jql_date(text: str, field_name: str, now: datetime) -> datetime:
    """An operand of a date field, truncated to the minute, in UTC.

    Accepts what Jira accepts for dates (minus functions): epoch milliseconds (what the
    `jira` client sends for datetimes), "yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm", the same
    without time, and periods relative to now such as "-5d" or "-1w 2d". Dates without a
    zone are read in the user's zone, which in the sandbox is UTC.
    """
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return to_minute(datetime.fromtimestamp(int(text) / 1000, tz=UTC))
    period = _PERIOD.match(text)
    if period:
        sign = -1 if period.group(1) == "-" else 1
        delta = timedelta(
            **{
                _PERIOD_UNITS[unit.lower()]: sign * int(amount)
                for amount, unit in _PERIOD_PART.findall(period.group(2))
            }
        )
        return to_minute(now + delta)
    for date_format in _DATE_FORMATS:
        try:
            return to_minute(datetime.strptime(text, date_format).replace(tzinfo=UTC))
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
        "or a period format e.g. '-5d', '4w 2d'."
    )

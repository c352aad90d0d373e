"""Which functions each set holds."""

from __future__ import annotations

import inspect

import pytest

from shared.templating.funcs import ABSENT_ON_PURPOSE, function_map

SPRIG_330 = [
    "hello",
    "ago",
    "date",
    "date_in_zone",
    "date_modify",
    "dateInZone",
    "dateModify",
    "duration",
    "durationRound",
    "htmlDate",
    "htmlDateInZone",
    "must_date_modify",
    "mustDateModify",
    "mustToDate",
    "now",
    "toDate",
    "unixEpoch",
    "abbrev",
    "abbrevboth",
    "trunc",
    "trim",
    "upper",
    "lower",
    "title",
    "untitle",
    "substr",
    "repeat",
    "trimall",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "nospace",
    "initials",
    "randAlphaNum",
    "randAlpha",
    "randAscii",
    "randNumeric",
    "swapcase",
    "shuffle",
    "snakecase",
    "camelcase",
    "kebabcase",
    "wrap",
    "wrapWith",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "plural",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "adler32sum",
    "toString",
    "atoi",
    "int64",
    "int",
    "float64",
    "seq",
    "toDecimal",
    "split",
    "splitList",
    "splitn",
    "toStrings",
    "until",
    "untilStep",
    "add1",
    "add",
    "sub",
    "div",
    "mod",
    "mul",
    "randInt",
    "add1f",
    "addf",
    "subf",
    "divf",
    "mulf",
    "biggest",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "join",
    "sortAlpha",
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "compact",
    "mustCompact",
    "fromJson",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "mustFromJson",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "ternary",
    "deepCopy",
    "mustDeepCopy",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "deepEqual",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "tuple",
    "list",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "pluck",
    "keys",
    "pick",
    "omit",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "values",
    "append",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "first",
    "mustFirst",
    "rest",
    "mustRest",
    "last",
    "mustLast",
    "initial",
    "mustInitial",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "slice",
    "mustSlice",
    "concat",
    "dig",
    "chunk",
    "mustChunk",
    "bcrypt",
    "htpasswd",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "encryptAES",
    "decryptAES",
    "randBytes",
    "uuidv4",
    "semver",
    "semverCompare",
    "fail",
    "regexMatch",
    "mustRegexMatch",
    "regexFindAll",
    "mustRegexFindAll",
    "regexFind",
    "mustRegexFind",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "urlParse",
    "urlJoin",
]

SVELTOS_EXTRAS = [
    "toYaml",
    "fromYaml",
    "fromYamlArray",
    "toJson",
    "fromJson",
    "fromJsonArray",
    "toToml",
    "fromToml",
    "getResource",
    "copy",
    "getField",
    "setField",
    "removeField",
    "chainSetField",
    "chainRemoveField",
]


def test_builtin_set_is_empty() -> None:
    assert function_map("builtin") == {}


def test_sprig_set_is_sprig_330_minus_env_and_network() -> None:
    names = set(function_map("sprig"))
    assert names == set(SPRIG_330)
    for absent in ABSENT_ON_PURPOSE:
        assert absent not in names
    assert "toYaml" not in names and "getResource" not in names


@pytest.mark.parametrize("name", ["sveltos", "sveltos-addon"])
def test_sveltos_sets_add_the_extras(name: str) -> None:
    names = set(function_map(name))  # type: ignore[arg-type]
    assert names == set(SPRIG_330) | set(SVELTOS_EXTRAS)
    assert not names & set(ABSENT_ON_PURPOSE)


def test_txt_map_is_the_same() -> None:
    assert set(function_map("sveltos", txt=True)) == set(function_map("sveltos"))


def test_unknown_set() -> None:
    with pytest.raises(ValueError):
        function_map("nope")  # type: ignore[arg-type]


def test_addon_helpers_need_the_context() -> None:
    fm = function_map("sveltos-addon")
    for name in ("getResource", "copy", "getField", "setField", "removeField"):
        assert getattr(fm[name], "needs_context", False)
    assert not getattr(function_map("sveltos")["getResource"], "needs_context", False)


def test_signatures_are_introspectable() -> None:
    """The engine reads the arity from the signature (the wrapper keeps it)."""
    fm = function_map("sveltos")
    assert len(inspect.signature(fm["trunc"]).parameters) == 2
    kinds = {p.kind for p in inspect.signature(fm["list"]).parameters.values()}
    assert inspect.Parameter.VAR_POSITIONAL in kinds

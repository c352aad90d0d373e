"""sprig path, filepath and URL functions (Go's path, path/filepath and net/url)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import FunctionError, gofunc
from shared.templating.gofmt import type_name

__all__ = ["PATH_FUNCS", "go_clean"]


def go_clean(p: str) -> str:
    """path.Clean."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    parts: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(seg)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


@gofunc("string")
def base(p: str) -> str:
    if p == "":
        return "."
    p = p.rstrip("/")
    if p == "":
        return "/"
    return p.rsplit("/", 1)[-1]


@gofunc("string")
def dir_(p: str) -> str:
    i = p.rfind("/")
    return go_clean(p[: i + 1])


@gofunc("string")
def clean(p: str) -> str:
    return go_clean(p)


@gofunc("string")
def ext(p: str) -> str:
    for i in range(len(p) - 1, -1, -1):
        if p[i] == "/":
            break
        if p[i] == ".":
            return p[i:]
    return ""


@gofunc("string")
def is_abs(p: str) -> bool:
    return p.startswith("/")


@gofunc("string")
def url_parse(v: str) -> dict[str, Any]:
    try:
        u = urllib.parse.urlsplit(v)
        hostname = u.hostname or ""
    except ValueError as e:
        raise FunctionError(f"unable to parse url: {e}") from None
    netloc = u.netloc
    userinfo = ""
    host = netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
    opaque = ""
    path = urllib.parse.unquote(u.path)
    if u.scheme and not netloc and u.path and not u.path.startswith("/"):
        opaque, path = u.path, ""
    return {
        "scheme": u.scheme,
        "host": host,
        "hostname": hostname if "[" not in host else host.split("]")[0].lstrip("["),
        "path": path,
        "query": u.query,
        "opaque": opaque,
        "fragment": urllib.parse.unquote(u.fragment),
        "userinfo": userinfo,
    }


def _meta(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise FunctionError(f"interface conversion: interface {{}} is {type_name(v)}, not string")
    return v


@gofunc("map[string]interface {}")
def url_join(d: dict[str, Any] | None) -> str:
    d = d or {}
    scheme, host, path = _meta(d, "scheme"), _meta(d, "host"), _meta(d, "path")
    query, opaque, fragment = _meta(d, "query"), _meta(d, "opaque"), _meta(d, "fragment")
    user = _meta(d, "userinfo")
    out = ""
    if scheme:
        out += scheme + ":"
    if opaque:
        out += opaque
    else:
        if scheme or host or user:
            if host or path or user:
                out += "//"
            if user:
                out += user + "@"
            out += host
        if path and not path.startswith("/") and host:
            out += "/"
        out += urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        out += "?" + query
    if fragment:
        out += "#" + urllib.parse.quote(fragment, safe="/:@!$&'()*+,;=-._~?")
    return out


PATH_FUNCS: dict[str, Callable[..., Any]] = {
    "base": base,
    "dir": dir_,
    "clean": clean,
    "ext": ext,
    "isAbs": is_abs,
    "osBase": base,
    "osClean": clean,
    "osDir": dir_,
    "osExt": ext,
    "osIsAbs": is_abs,
    "urlParse": url_parse,
    "urlJoin": url_join,
}

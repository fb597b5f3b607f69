"""The subset of BOSH's ops-file language (github.com/cppforlife/go-patch) that Cloud
Foundry's ops files use: `replace` and `remove`; path segments `key`, `key?` (optional:
created by replace, nothing to remove is not an error), `name=value` / `name=value?`
(the array element whose `name` is that value; optional: appended by replace), an index,
and `-` (after the last element). The BOSH CLI is not packaged for Debian; this lets
tests apply real ops files (cf-deployment's and netlog's) to a real manifest."""
import copy


class PatchError(Exception):
    pass


def _parse(path):
    if not path.startswith("/"):
        raise PatchError(f"path must start with /: {path}")
    segs = []
    for raw in path[1:].split("/"):
        optional = raw.endswith("?")
        tok = raw[:-1] if optional else raw
        if tok == "-":
            segs.append(("append", None, optional))
        elif "=" in tok:
            k, v = tok.split("=", 1)
            segs.append(("match", (k, v), optional))
        elif tok.lstrip("-").isdigit():
            segs.append(("index", int(tok), optional))
        else:
            segs.append(("key", tok, optional))
    return segs


def _step(node, seg, create, path):
    kind, arg, optional = seg
    if kind == "key":
        if not isinstance(node, dict):
            raise PatchError(f"{path}: expected a map at '{arg}'")
        if arg not in node:
            if optional and create:
                node[arg] = {}
            else:
                return None
        return node[arg]
    if kind == "match":
        if not isinstance(node, list):
            raise PatchError(f"{path}: expected an array at '{arg[0]}={arg[1]}'")
        found = [e for e in node if isinstance(e, dict) and str(e.get(arg[0])) == arg[1]]
        if len(found) > 1:
            raise PatchError(f"{path}: '{arg[0]}={arg[1]}' matches {len(found)} elements")
        if not found:
            if optional and create:
                node.append({arg[0]: arg[1]})
                return node[-1]
            return None
        return found[0]
    if kind == "index":
        if not isinstance(node, list) or not -len(node) <= arg < len(node):
            return None
        return node[arg]
    raise PatchError(f"{path}: '-' only as the last segment")


def apply(doc, ops):
    """A new document: `ops` (a parsed ops file) applied to `doc` in order."""
    doc = copy.deepcopy(doc)
    for op in ops:
        path, kind = op["path"], op["type"]
        segs = _parse(path)
        node = doc
        for seg in segs[:-1]:
            nxt = _step(node, seg, kind == "replace", path)
            if nxt is None:
                if kind == "remove" and any(s[2] for s in segs):
                    break  # an optional part is missing: nothing to remove
                raise PatchError(f"{kind} {path}: '{seg}' not found")
            node = nxt
        else:
            last = segs[-1]
            lkind, arg, optional = last
            if kind == "replace":
                value = copy.deepcopy(op["value"])
                if lkind == "append":
                    node.append(value)
                elif lkind == "key":
                    node[arg] = value
                elif lkind == "index":
                    node[arg] = value
                else:
                    found = [i for i, e in enumerate(node)
                             if isinstance(e, dict) and str(e.get(arg[0])) == arg[1]]
                    if found:
                        node[found[0]] = value
                    elif optional:
                        node.append(value)
                    else:
                        raise PatchError(f"replace {path}: '{arg[0]}={arg[1]}' not found")
            elif kind == "remove":
                if lkind == "key":
                    if arg in node:
                        del node[arg]
                    elif not optional:
                        raise PatchError(f"remove {path}: '{arg}' not found")
                elif lkind == "match":
                    found = [i for i, e in enumerate(node)
                             if isinstance(e, dict) and str(e.get(arg[0])) == arg[1]]
                    if found:
                        del node[found[0]]
                    elif not optional:
                        raise PatchError(f"remove {path}: '{arg[0]}={arg[1]}' not found")
                elif lkind == "index":
                    del node[arg]
                else:
                    raise PatchError(f"remove {path}: cannot remove '-'")
            else:
                raise PatchError(f"unknown op type {kind}")
    return doc

#!/usr/bin/env python3
"""Checks that two reference JSON files from tools/reference.py agree (the committed one and a fresh run).

Exit 1 with a list of differences otherwise. Floats compare within 1e-9 relative: library upgrades
that change reference values must be looked at, not silently absorbed.
"""
import json
import math
import sys


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ("versions", "generated_seconds"):
                continue
            if k not in a or k not in b:
                out.append("%s.%s: only in %s" % (path, k, "committed" if k in a else "fresh"))
            else:
                diff(a[k], b[k], "%s.%s" % (path, k), out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append("%s: %d vs %d items" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, "%s[%d]" % (path, i), out)
    elif isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, (int, float)) and isinstance(b, (int, float))) or not (
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
        ):
            out.append("%s: %r vs %r" % (path, a, b))
    elif a != b:
        out.append("%s: %r vs %r" % (path, a, b))


def main():
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
    # Paths inside reasons and logs may differ between machines; entries must not.
    out = []
    for key in ("entries", "non_image"):
        diff(a.get(key), b.get(key), key, out)
    ua = sorted(u["path"] for u in a.get("unreadable", []))
    ub = sorted(u["path"] for u in b.get("unreadable", []))
    if ua != ub:
        out.append("unreadable: %r vs %r" % (ua, ub))
    if out:
        print("reference values changed:\n  " + "\n  ".join(out[:50]))
        sys.exit(1)
    print("reference values unchanged (%d entries)" % len(a["entries"]))


if __name__ == "__main__":
    main()

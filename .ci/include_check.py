#!/usr/bin/env python3
"""Fails when a part includes a header of a part it must not depend on (docs/architecture.md).

Each folder below is one CMake library (or a group of them); a project header is any
`#include "..."` that names a file of this repository. Run from anywhere; ctest runs it as
`include_check`. Prints every offending line as FILE:LINE: and exits 1 when there is one.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# part (a folder; the longest matching prefix wins) -> project folders it may include from.
# Its own folder is always allowed.
RULES = {
    "spec/": [],
    "spec/slurm/": ["spec/"],
    "server/util/": [],
    "server/tls/": ["server/util/"],
    "server/protocol/": ["spec/", "server/util/"],
    "server/client/": ["server/protocol/", "server/tls/", "server/util/", "spec/"],
    "server/http/": ["server/tls/", "server/util/"],
    "server/model/": [],
    "server/store/": ["server/model/", "server/util/"],
    "server/core/": ["spec/", "server/model/", "server/protocol/", "server/util/"],
    "server/report/": ["server/util/"],
    # The service, the API and the server process: everything of server/ except the client.
    "server/": ["spec/", "server/protocol/", "server/tls/", "server/util/", "server/http/",
                "server/model/",
                "server/store/",
                "server/core/", "server/report/", "server/api/"],
    "worker/": ["spec/", "server/protocol/", "server/client/", "server/util/"],
    "cmd/": None,  # anything
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def part_of(path):
    best = None
    for part in RULES:
        if path.startswith(part) and (best is None or len(part) > len(best)):
            best = part
    return best


def check(root):
    """(files checked, offending lines) for the tree at root."""
    bad = []
    checked = 0
    for part in RULES:
        top = os.path.join(root, part)
        for dirpath, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                if part_of(rel) != part:
                    continue  # a sub-part with its own rule
                allowed = RULES[part]
                checked += 1
                with open(os.path.join(root, rel), encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or allowed is None:
                            continue
                        target = m.group(1)
                        if not os.path.exists(os.path.join(root, target)):
                            continue  # a system or generated header, or one beside the file
                        if target.startswith(part) and part_of(target) == part:
                            continue
                        if any(target.startswith(a) and
                               (part_of(target) == a or a != "server/") for a in allowed):
                            continue
                        bad.append(f"{rel}:{number}: {part} must not include {target} "
                                   f"(allowed: {part}, {', '.join(allowed) or 'nothing else'})")
    return checked, bad


def self_test():
    """The check must catch what it is for: a tree with two forbidden includes and one allowed."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        files = {
            "server/store/store.h": "",
            "server/client/client.h": "",
            "worker/w.cc": '#include "server/store/store.h"\n#include "server/client/client.h"\n',
            "spec/s.cc": '#include "worker/w.h"\n',
            "worker/w.h": "",
            "cmd/c.cc": '#include "server/store/store.h"\n',
        }
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                f.write(text)
        _, bad = check(root)
    expected = ["spec/s.cc:1:", "worker/w.cc:1:"]
    found = sorted(b.split(" ")[0] for b in bad)
    if found != expected:
        print(f"include_check self-test FAILED: expected {expected}, found {found}")
        return False
    return True


def main():
    if not self_test():
        return 1
    checked, bad = check(ROOT)
    for b in bad:
        print(b)
    if bad:
        print(f"include_check: {len(bad)} forbidden include(s); see docs/architecture.md")
        return 1
    print(f"include_check: {checked} files, every include allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

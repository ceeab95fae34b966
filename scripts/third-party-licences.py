#!/usr/bin/env python3
"""The licence texts of the Rust crates compiled into callbox, in THIRD-PARTY-LICENCES.txt.

The MIT, BSD, ISC and Apache licences the crates use ask that their text (with the copyright
lines, and Apache's NOTICE files) goes with every copy of the binary: this file is that copy,
installed beside THIRD-PARTY-NOTICES.md in /usr/share/doc/callbox/.

Reads the crates (name, version) from THIRD-PARTY-NOTICES.md's table, which
scripts/third-party-notices.sh writes from Cargo.lock, and each crate's own licence, copyright
and NOTICE files from its source as cargo fetched it (`cargo metadata`). A text several crates
ship word for word is written once, with all of them. A crate that ships no licence file gets
the standard text of the licence its Cargo.toml declares, with its authors as the copyright
holders, and the file says so.

    scripts/third-party-licences.py            # write the file
    scripts/third-party-licences.py --check    # compare only: fail when it is stale
"""

import json
import os
import re
import subprocess
import sys

NOTICES = "THIRD-PARTY-NOTICES.md"
OUTPUT = "THIRD-PARTY-LICENCES.txt"
TABLE_BEGIN = "<!-- crates: begin (scripts/third-party-notices.sh) -->"
TABLE_END = "<!-- crates: end -->"
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|COPYRIGHT|NOTICE|UNLICENSE)", re.IGNORECASE)
RULE = "=" * 78

MIT_TEMPLATE = """\
Copyright (c) {holders}

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."""


class Stale(Exception):
    """The crate list and the sources cargo has do not agree."""


def listed_crates(notices_text):
    """(name, version) of every row of the notices' crate table, in its order."""
    try:
        table = notices_text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0]
    except IndexError:
        raise Stale(f"{NOTICES} has no crate table between its markers") from None
    crates = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] in ("crate", "---"):
            continue
        crates.append((cells[0], cells[1]))
    return crates


def cargo_packages():
    """Every package cargo resolved, by (name, version)."""
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {(p["name"], p["version"]): p for p in json.loads(out)["packages"]}


def normalised(text):
    """The text with LF line ends, no trailing spaces and no blank lines around it."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def licence_files(package):
    """(file name, text) of the licence files a crate ships, sorted by name."""
    root = os.path.dirname(package["manifest_path"])
    names = {name for name in os.listdir(root) if LICENCE_FILE.match(name)}
    if package.get("license_file"):
        names.add(package["license_file"])
    files = []
    for name in sorted(names):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                files.append((name, normalised(f.read())))
    return files


def standard_text(package):
    """The licence text for a crate that ships none, from what its Cargo.toml declares."""
    declared = package.get("license") or ""
    if "MIT" not in re.split(r"[ /()]+", declared):
        raise Stale(
            f"{package['name']} {package['version']} ships no licence file and declares "
            f"'{declared}': add its text to scripts/third-party-licences.py"
        )
    authors = ", ".join(re.sub(r"\s*<[^>]*>", "", a) for a in package.get("authors", []))
    note = (
        f"(The crate ships no licence file; its Cargo.toml declares '{declared}'. The MIT "
        f"licence applies, with its authors as the copyright holders.)"
    )
    return ("MIT, as declared", note + "\n\n" + MIT_TEMPLATE.format(holders=authors or "its authors"))


def collect(crates, packages):
    """Texts in first-seen order, each with the crates (and file names) that ship it."""
    texts = {}
    for name, version in crates:
        package = packages.get((name, version))
        if package is None:
            raise Stale(f"{name} {version} is in {NOTICES} but not in Cargo.lock: run scripts/third-party-notices.sh")
        files = licence_files(package) or [standard_text(package)]
        for file_name, text in files:
            texts.setdefault(text, []).append(f"{name} {version} ({file_name})")
    return texts


def render(texts, crate_count):
    out = [
        "Licence texts of the Rust crates compiled into callbox",
        "",
        f"{crate_count} crates, {len(texts)} distinct texts. Written by scripts/third-party-licences.py",
        "from each crate's own source at the version in Cargo.lock; the crates, their licences",
        "and sources are listed in THIRD-PARTY-NOTICES.md. A crate offered under a choice of",
        "licences (\"MIT OR Apache-2.0\") is used under any of them; all the texts it ships are here.",
    ]
    for text, entries in texts.items():
        out += ["", RULE, *entries, RULE, "", text]
    return "\n".join(out) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(f"usage: {argv[0]} [--check]", file=sys.stderr)
        return 2
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    try:
        with open(NOTICES, encoding="utf-8") as f:
            crates = listed_crates(f.read())
        new = render(collect(crates, cargo_packages()), len(crates))
    except Stale as err:
        print(f"third-party-licences: {err}", file=sys.stderr)
        return 1
    if check:
        try:
            with open(OUTPUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current != new:
            print(f"{OUTPUT} is stale: run scripts/third-party-notices.sh and commit it", file=sys.stderr)
            return 1
        print(f"{OUTPUT}: the licence texts are current")
        return 0
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""tests/api/check-exports.py — the library exports exactly its documented API.

Checks, with nm: every dynamic symbol of libudg.so is named udg_ (never udg__) and is declared
with UDG_EXPORT in a header under include/; every UDG_EXPORT declaration is exported; no udg_
function in a public header lacks UDG_EXPORT; the static library defines no global symbol outside
the udg_ namespace; every public header is in the header self-containment list; the version
script (engine/udg.map) lists exactly the UDG_EXPORT functions, by name, in a node named after
the soname.
Reads only; exit 0 pass, 1 fail, 77 skip (no nm).
"""

import argparse
import os
import re
import subprocess
import sys

PUBLIC_PREFIX = "udg_"
INTERNAL_PREFIX = "udg__"
DEFINED_TYPES = set("TDBRCWViu")  # nm letters of defined global symbols (not 'A': version nodes)


def nm_symbols(nm, path, dynamic):
	args = [nm, "--defined-only", "--format=posix"]
	args += ["-D"] if dynamic else ["-g"]
	out = subprocess.run(args + [path], check=True, stdout=subprocess.PIPE, text=True).stdout
	syms = set()
	for line in out.splitlines():
		fields = line.split()
		# "name type [value size]"; archive member headers end with ':'
		if len(fields) < 2 or fields[0].endswith(":") or fields[1] not in DEFINED_TYPES:
			continue
		syms.add(fields[0].split("@", 1)[0])
	return syms


def strip_c(text):
	"""Removes comments and preprocessor lines, keeping line structure irrelevant."""
	text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
	text = re.sub(r"//[^\n]*", " ", text)
	text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
	return text


def header_declarations(include_dirs):
	"""Returns ({exported name: header}, {udg_ function declared without UDG_EXPORT: header},
	set of header paths relative to an include dir)."""
	exported, unexported, headers = {}, {}, set()
	for inc in include_dirs:
		for root, _, files in os.walk(inc):
			for fn in files:
				path = os.path.join(root, fn)
				rel = os.path.relpath(path, inc)
				if fn.endswith(".h.in"):
					headers.add(rel[:-3])
					continue
				if not fn.endswith(".h"):
					continue
				headers.add(rel)
				with open(path, errors="replace") as f:
					text = strip_c(f.read())
				for stmt in re.split(r"[;{}]", text):
					stmt = " ".join(stmt.split())
					m = re.search(r"\b(\w+)\s*\(", stmt)
					if "UDG_EXPORT" in stmt.split():
						name = m.group(1) if m else re.findall(r"\w+", stmt)[-1]
						exported[name] = rel
					elif (m and m.group(1).startswith(PUBLIC_PREFIX)
					      and not stmt.startswith(("typedef", "static", "return"))):
						unexported[m.group(1)] = rel
	return exported, unexported, headers


def check_map(path, soversion, declared):
	"""The version script names every public function and nothing else: no wildcard may
	export a name by accident."""
	problems = []
	text = re.sub(r"/\*.*?\*/", " ", open(path).read(), flags=re.S)
	m = re.search(r"(\S+)\s*\{\s*global:(.*?)local:\s*\*;\s*\}", text, re.S)
	if not m:
		return ["%s: expected one node 'NAME { global: ...; local: *; };'" % path]
	if soversion and m.group(1) != "UDG_" + soversion:
		problems.append("%s: node %s, but the soname is libudg.so.%s (rename it UDG_%s)"
				% (path, m.group(1), soversion, soversion))
	listed = set(n.strip() for n in m.group(2).split(";") if n.strip())
	for name in sorted(listed):
		if not re.fullmatch(r"udg_[a-z0-9_]+", name) or name.startswith(INTERNAL_PREFIX):
			problems.append("%s lists %s: only public udg_ names, no wildcards" % (path, name))
		elif name not in declared:
			problems.append("%s lists %s, which no header declares with UDG_EXPORT"
					% (path, name))
	for name, hdr in sorted(declared.items()):
		if name not in listed:
			problems.append("declared UDG_EXPORT in %s but missing from %s: %s" % (hdr, path, name))
	return problems


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--nm", default="nm")
	ap.add_argument("--shared", required=True)
	ap.add_argument("--static")
	ap.add_argument("--include", action="append", required=True)
	ap.add_argument("--map", help="the linker version script (engine/udg.map)")
	ap.add_argument("--soversion", help="the soname's version, e.g. 0.1")
	ap.add_argument("--checked-headers", nargs="*", default=[])
	args = ap.parse_args()
	if not args.nm:
		print("SKIP: nm (binutils) is not installed")
		return 77

	problems = []
	exports = nm_symbols(args.nm, args.shared, dynamic=True)
	declared, undecorated, headers = header_declarations(args.include)

	for sym in sorted(exports):
		if not sym.startswith(PUBLIC_PREFIX) or sym.startswith(INTERNAL_PREFIX):
			problems.append("exported but not a public udg_ name: %s" % sym)
		elif sym not in declared:
			problems.append("exported but declared with UDG_EXPORT in no header: %s" % sym)
	for name, hdr in sorted(declared.items()):
		if name not in exports:
			problems.append("declared UDG_EXPORT in %s but not exported: %s" % (hdr, name))
	for name, hdr in sorted(undecorated.items()):
		if name not in declared:
			problems.append("declared in %s without UDG_EXPORT: %s" % (hdr, name))
	if args.static:
		for sym in sorted(nm_symbols(args.nm, args.static, dynamic=False)):
			# AddressSanitizer adds an __odr_asan.<name> marker per instrumented global.
			if sym.startswith("__odr_asan"):
				continue
			if not sym.startswith(PUBLIC_PREFIX):
				problems.append("static library defines a global outside udg_: %s" % sym)
	for hdr in sorted(headers - set(args.checked_headers)):
		problems.append("public header missing from public_headers in tests/api/meson.build: %s"
				% hdr)

	if args.map:
		problems += check_map(args.map, args.soversion, declared)

	for p in problems:
		print("FAIL: " + p)
	print("%d exported symbols, %d UDG_EXPORT declarations in %d headers, %d problems"
	      % (len(exports), len(declared), len(headers), len(problems)))
	return 1 if problems else 0


if __name__ == "__main__":
	sys.exit(main())

#!/usr/bin/env python3
"""tests/api/check-abi.py — the binary interface of libudg.so against the last release's.

The baseline (tests/api/abi-baseline.json) records, for one soname: the exported symbols, the
declaration text of every exported function and callback type, the size of every public struct
with the offset and size of each member, and the value of every enumerator. Under the same
soname (docs/abi.md) the current build must keep all of it:
  - no exported symbol removed; no exported function's or callback type's declaration changed;
  - every public struct keeps its size, and each member its offset and size, except `reserved`,
    which may give up slots at its front to new members (its end stays where it was); a struct
    udg only lends (udg_rinfo, udg_error_info) may grow at its end;
  - every enumerator keeps its value.
Additions (functions, enumerators, members carved out of `reserved`) are listed and allowed.
A different soname means an intended break: the baseline must then be rewritten for the new
soname (--update), which is part of making the release.
Layouts are measured by compiling a small program against the headers, so they are the
compiler's, not a guess. Exit 0 pass, 1 fail, 77 skip (no nm or cc).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def strip_c(text):
	text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
	text = re.sub(r"//[^\n]*", " ", text)
	return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)


def norm(s):
	return " ".join(s.replace("UDG_EXPORT", " ").split())


def parse_headers(include_dirs):
	"""Returns (functions {name: decl}, callbacks {name: decl}, structs {name: [members]},
	enumerators [names])."""
	functions, callbacks, structs, enumerators = {}, {}, {}, []
	for inc in include_dirs:
		for root, _, files in os.walk(inc):
			for fn in sorted(files):
				if not fn.endswith(".h"):
					continue
				text = strip_c(open(os.path.join(root, fn), errors="replace").read())
				for m in re.finditer(r"\bstruct\s+(udg_\w+)\s*\{([^}]*)\}", text):
					members = []
					for decl in m.group(2).split(";"):
						mm = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", decl.strip())
						if mm:
							members.append(mm.group(1))
					structs[m.group(1)] = members
				for m in re.finditer(r"\benum\s+\w*\s*\{([^}]*)\}", text):
					for item in m.group(1).split(","):
						mm = re.match(r"\s*(UDG_\w+)", item)
						if mm:
							enumerators.append(mm.group(1))
				for stmt in re.split(r"[;{}]", text):
					if "UDG_EXPORT" in stmt.split():
						m = re.search(r"\b(\w+)\s*\(", stmt)
						if m:
							functions[m.group(1)] = norm(stmt)
					elif stmt.split()[:1] == ["typedef"] and "(*" in stmt:
						m = re.search(r"\(\s*\*\s*(\w+)\s*\)", stmt)
						if m:
							callbacks[m.group(1)] = norm(stmt)
	return functions, callbacks, structs, enumerators


def measure(cc, include_dirs, structs, enumerators):
	"""Compiles and runs a program printing sizes, offsets and enumerator values."""
	lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <udg.h>",
		 "#define M(s, m) printf(\"member %s %s %zu %zu\\n\", #s, #m, offsetof(struct s, m), "
		 "sizeof(((struct s *)0)->m))",
		 "int main(void) {"]
	for name, members in sorted(structs.items()):
		lines.append('printf("struct %s %%zu\\n", sizeof(struct %s));' % (name, name))
		lines += ["M(%s, %s);" % (name, m) for m in members]
	for e in enumerators:
		lines.append('printf("enum %s %%lld\\n", (long long)%s);' % (e, e))
	lines += ["return 0; }"]
	with tempfile.TemporaryDirectory() as tmp:
		src, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
		open(src, "w").write("\n".join(lines) + "\n")
		cmd = [cc, "-std=gnu11", "-o", exe, src] + ["-I" + d for d in include_dirs]
		subprocess.run(cmd, check=True)
		out = subprocess.run([exe], check=True, stdout=subprocess.PIPE, text=True).stdout
	sizes, members, values = {}, {}, {}
	for line in out.splitlines():
		f = line.split()
		if f[0] == "struct":
			sizes[f[1]] = int(f[2])
		elif f[0] == "member":
			members.setdefault(f[1], {})[f[2]] = [int(f[3]), int(f[4])]
		else:
			values[f[1]] = int(f[2])
	return {"sizes": sizes, "members": members, "enums": values}


def exported(nm, lib):
	out = subprocess.run([nm, "-D", "--defined-only", "--format=posix", lib], check=True,
			     stdout=subprocess.PIPE, text=True).stdout
	return sorted(set(l.split()[0].split("@")[0] for l in out.splitlines()
			  if l.split()[0].startswith("udg_")))


# Structs udg only lends through a pointer (docs/abi.md): programs never allocate them, so they
# may grow at their end; their existing members still keep offset and size.
LENT = {"udg_rinfo", "udg_error_info"}


def compare(base, cur):
	problems, added = [], []
	for sym in base["symbols"]:
		if sym not in cur["symbols"]:
			problems.append("symbol removed: %s" % sym)
	added += ["symbol %s" % s for s in cur["symbols"] if s not in base["symbols"]]
	for kind in ("functions", "callbacks"):
		for name, decl in base[kind].items():
			now = cur[kind].get(name)
			if now is not None and now != decl:
				problems.append("%s changed:\n    was: %s\n    now: %s" % (name, decl, now))
			elif now is None and kind == "callbacks":
				problems.append("callback type removed: %s" % name)
	for name, size in base["sizes"].items():
		if name not in cur["sizes"]:
			problems.append("struct removed: %s" % name)
			continue
		grown = name in LENT and cur["sizes"][name] > size
		if cur["sizes"][name] != size and not grown:
			problems.append("struct %s: size %d, was %d (new members must come out of its "
					"reserved tail)" % (name, cur["sizes"][name], size))
		bm, cm = base["members"].get(name, {}), cur["members"].get(name, {})
		for m, (off, sz) in bm.items():
			if m == "reserved" and m in cm:
				if cm[m][0] + cm[m][1] != off + sz:
					problems.append("struct %s: the reserved tail must keep its end (%d), "
							"now ends at %d" % (name, off + sz, sum(cm[m])))
				continue
			if m not in cm:
				problems.append("struct %s: member %s removed" % (name, m))
			elif cm[m] != [off, sz]:
				problems.append("struct %s: member %s moved or resized: offset %d size %d, "
						"was offset %d size %d" % (name, m, cm[m][0], cm[m][1], off, sz))
		added += ["member %s.%s" % (name, m) for m in cm if m not in bm]
	for e, v in base["enums"].items():
		if e not in cur["enums"]:
			problems.append("enumerator removed: %s" % e)
		elif cur["enums"][e] != v:
			problems.append("enumerator %s: value %d, was %d" % (e, cur["enums"][e], v))
	added += ["enumerator %s" % e for e in cur["enums"] if e not in base["enums"]]
	return problems, added


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--nm", default="nm")
	ap.add_argument("--cc", default="cc")
	ap.add_argument("--shared", required=True)
	ap.add_argument("--soversion", required=True)
	ap.add_argument("--include", action="append", required=True)
	ap.add_argument("--baseline", required=True)
	ap.add_argument("--update", action="store_true", help="rewrite the baseline from this build")
	args = ap.parse_args()
	if not args.nm or not args.cc:
		print("SKIP: nm or cc missing")
		return 77

	functions, callbacks, structs, enumerators = parse_headers(args.include)
	cur = {"soname": "libudg.so." + args.soversion, "symbols": exported(args.nm, args.shared),
	       "functions": functions, "callbacks": callbacks}
	cur.update(measure(args.cc, args.include, structs, enumerators))

	if args.update:
		with open(args.baseline, "w") as f:
			json.dump(cur, f, indent=1, sort_keys=True)
			f.write("\n")
		print("abi: baseline %s rewritten for %s" % (args.baseline, cur["soname"]))
		return 0
	base = json.load(open(args.baseline))
	if base["soname"] != cur["soname"]:
		print("FAIL: the soname is %s but the baseline is %s's: a new soname starts a new ABI; "
		      "rewrite the baseline (docs/abi.md, 'Making a release')" % (cur["soname"],
										  base["soname"]))
		return 1
	problems, added = compare(base, cur)
	for a in added:
		print("added (compatible): " + a)
	for p in problems:
		print("FAIL: " + p)
	print("abi: %s, %d symbols, %d structs, %d enumerators against the baseline: %d added, "
	      "%d breaking" % (cur["soname"], len(cur["symbols"]), len(cur["sizes"]),
			       len(cur["enums"]), len(added), len(problems)))
	return 1 if problems else 0


if __name__ == "__main__":
	sys.exit(main())

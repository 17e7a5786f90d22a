#!/usr/bin/env python3
"""docs/gen-man.py — the man pages, made from the reference docs at build time.

Section 3: one page per exported function (the names come from engine/udg.map). A function's
page is the docs section whose heading names it (docs/loop.md, dgram.md, errors.md), or else
the section that declares it in a code block or table; the SYNOPSIS is its declaration from
the public headers. Section 7: udg(7), the overview, from README.md and the list of functions.
Each page is written as markdown and turned into roff by pandoc.

  gen-man.py --root SRC --version V --out-dir DIR [--pandoc PANDOC]   writes DIR/*.3, DIR/udg.7
  gen-man.py --check DIR --nm NM --shared LIB                         every export has a page
A function without a docs section fails the build, naming it.
"""

import argparse
import os
import re
import subprocess
import sys

DOCS = ["docs/loop.md", "docs/dgram.md", "docs/errors.md", "docs/group.md"]
HEADER_SUMMARY = {}  # name: first sentence of the header comment right above its declaration


def map_names(root):
	text = re.sub(r"/\*.*?\*/", " ", open(os.path.join(root, "engine/udg.map")).read(), flags=re.S)
	return sorted(set(re.findall(r"\b(udg_[a-z0-9_]+)\s*;", text)))


def sections(root):
	"""[(level, heading, body, doc)] for every '##'/'###' section, in document order."""
	out = []
	for doc in DOCS:
		text = open(os.path.join(root, doc)).read()
		parts = re.split(r"^(#{2,3}) (.*)$", text, flags=re.M)
		for i in range(1, len(parts), 3):
			out.append((len(parts[i]), parts[i + 1].strip(), parts[i + 2], doc))
	return out


def find_section(name, secs):
	for s in secs:
		if re.search(r"\b%s\b" % re.escape(name), s[1]):
			return s
	decl = re.compile(r"[\w*]\s+\**%s\s*\(" % re.escape(name))
	found = [s for s in secs if decl.search(s[2])]
	# The most specific section: '###' before '##'.
	found.sort(key=lambda s: -s[0])
	return found[0] if found else None


def declarations(root):
	"""{name: declaration text} for every UDG_EXPORT function in the public headers."""
	decls = {}
	inc = os.path.join(root, "include")
	for dirpath, _, files in os.walk(inc):
		for fn in files:
			if not fn.endswith((".h", ".h.in")):
				continue
			raw = open(os.path.join(dirpath, fn)).read()
			# Comments become spaces of the same length, so offsets match the raw text.
			text = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), raw, flags=re.S)
			for m in re.finditer(r"UDG_EXPORT\s+([^;{]*?\b(udg_\w+)\s*\([^;]*\))\s*;", text):
				decls[m.group(2)] = " ".join(m.group(1).split()) + ";"
				c = re.search(r"/\*((?:(?!\*/).)*)\*/\s*$", raw[:m.start()], re.S)
				if c:
					comment = " ".join(c.group(1).replace("*", " ").split())
					HEADER_SUMMARY[m.group(2)] = re.split(r"(?<=[.:])(?<!e\.g\.)\s", comment, 1)[0].rstrip(".:")
	return decls


def first_sentence(body):
	"""A one-line summary: the first prose sentence of a section."""
	text = re.sub(r"```.*?```", " ", body, flags=re.S)
	for para in re.split(r"\n\s*\n", text):
		para = " ".join(para.split())
		if para and not para.startswith(("|", "#", "-", "*", "1.")):
			para = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", para).replace("`", "")
			return re.split(r"(?<=[.:])(?<!e\.g\.)\s", para, maxsplit=1)[0].rstrip(".:")
	return ""


def summary(name, sec):
	"""The NAME line: the section's first sentence when the section is the function's own;
	for a function documented in a shared section, that section's title, and the Node method
	when a table row gives it."""
	level, heading, body, doc = sec
	if re.search(r"\b%s\b" % re.escape(name), heading):
		own = first_sentence(body)
		if len(own.split()) > 2 and not re.match(r"udg_\w+\(\)", own):
			return own
		own = own or "see DESCRIPTION"
		# Else the header's comment, of this function or of the first one the heading names.
		for n in [name] + re.findall(r"udg_\w+", heading):
			if n in HEADER_SUMMARY:
				return HEADER_SUMMARY[n]
		return own
	title = re.sub(r"`", "", heading)
	for row in body.splitlines():
		cells = [c.strip().strip("`") for c in row.strip().strip("|").split("|")]
		if row.startswith("|") and re.search(r"\b%s\s*\(" % re.escape(name), cells[0]):
			if len(cells) > 1 and cells[1] not in ("", "—"):
				return "%s: Node's %s" % (title, cells[1])
	return title


def clean(body):
	"""Relative links become their text (the docs directory is not installed)."""
	return re.sub(r"\[([^\]]*)\]\((?!https?:)[^)]*\)", r"\1", body)


def front(title, section, version):
	return ("---\ntitle: %s\nsection: %s\nheader: udg manual\nfooter: udg %s\n---\n\n"
		% (title.upper(), section, version))


def page3(name, sec, decl, version, all_names):
	level, heading, body, doc = sec
	body = re.sub(r"^#### ", "## ", body, flags=re.M)
	others = [n for n in re.findall(r"udg_\w+", heading) if n != name and n in all_names]
	see = ", ".join("**%s**(3)" % n for n in others + ["udg"] if n != "udg")
	see = (see + ", " if see else "") + "**udg**(7)"
	return (front(name, 3, version) +
		"# NAME\n\n%s - %s\n\n" % (name.replace("_", "\\_"), summary(name, sec)) +
		"# SYNOPSIS\n\n```c\n#include <udg.h>\n\n%s\n```\n\n" % decl +
		"Compile and link with `cc ... $(pkg-config --cflags --libs udg)`.\n\n" +
		"# DESCRIPTION\n\n%s\n\n" % clean(body).strip() +
		"# SEE ALSO\n\n%s; the section \"%s\" of %s in the udg sources.\n" % (see, heading, doc))


def page7(root, version, names, secs):
	readme = open(os.path.join(root, "README.md")).read()
	intro = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
	example = re.search(r"## Example: an echo server\n(.*?)(?=\n## )", readme, re.S).group(1)
	by_doc = {}
	for n in names:
		by_doc.setdefault(find_section(n, secs)[3], []).append(n)
	listing = ""
	for doc in DOCS:
		if doc in by_doc:
			title = open(os.path.join(root, doc)).readline().lstrip("# ").strip()
			listing += "## %s\n\n" % title
			listing += "".join("- **%s**(3): %s\n" % (n, summary(n, find_section(n, secs)))
					   for n in by_doc[doc]) + "\n"
	return (front("udg", 7, version) +
		"# NAME\n\nudg - an io\\_uring UDP engine with the API of Node's dgram\n\n" +
		"# DESCRIPTION\n\n%s\n\n# EXAMPLE\n\n%s\n\n" % (clean(intro), clean(example).strip()) +
		"# FUNCTIONS\n\n%s" % listing +
		"# SEE ALSO\n\nThe reference and the design notes are in docs/ of the udg sources: "
		"architecture.md, loop.md, dgram.md, ownership.md, errors.md, tuning.md, abi.md.\n")


def render(pandoc, md, out):
	subprocess.run([pandoc, "-s", "-f", "markdown", "-t", "man", "-o", out], input=md,
		       text=True, check=True)


def generate(args):
	names = map_names(args.root)
	secs = sections(args.root)
	decls = declarations(args.root)
	missing = [n for n in names if find_section(n, secs) is None or n not in decls]
	if missing:
		sys.exit("gen-man: no docs section or no header declaration for: " + " ".join(missing) +
			 " (document each exported function in docs/loop.md, dgram.md, errors.md or group.md)")
	os.makedirs(args.out_dir, exist_ok=True)
	for n in names:
		render(args.pandoc, page3(n, find_section(n, secs), decls[n], args.version, names),
		       os.path.join(args.out_dir, n + ".3"))
	render(args.pandoc, page7(args.root, args.version, names, secs),
	       os.path.join(args.out_dir, "udg.7"))
	return 0


def check(args):
	out = subprocess.run([args.nm, "-D", "--defined-only", "--format=posix", args.shared],
			     check=True, stdout=subprocess.PIPE, text=True).stdout
	exported = sorted(set(l.split()[0].split("@")[0] for l in out.splitlines()
			      if l.startswith("udg_")))
	def has_page(name):
		path = os.path.join(args.check, name)
		return os.path.exists(path) and os.path.getsize(path) > 0

	problems = ["exported without a man page: %s" % n for n in exported if not has_page(n + ".3")]
	if not has_page("udg.7"):
		problems.append("no overview page udg.7")
	for p in problems:
		print("FAIL: " + p)
	print("man pages: %d exported functions, %d without a page" % (len(exported), len(problems)))
	return 1 if problems else 0


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--root")
	ap.add_argument("--version")
	ap.add_argument("--out-dir")
	ap.add_argument("--pandoc", default="pandoc")
	ap.add_argument("--check")
	ap.add_argument("--nm", default="nm")
	ap.add_argument("--shared")
	args = ap.parse_args()
	return check(args) if args.check else generate(args)


if __name__ == "__main__":
	sys.exit(main())

#!/usr/bin/env python3
"""scripts/sum-summaries.py OUT IN... — adds up the "passed failed skipped" summary files that
run-tests.py wrote for several runs of one suite (one per backend), writes the total to OUT,
prints the closing line "N passed, N failed, N skipped", and exits 1 if anything failed or a run
left no summary (it crashed before counting)."""

import sys


def main():
	out, ins = sys.argv[1], sys.argv[2:]
	total = [0, 0, 0]
	missing = []
	for path in ins:
		try:
			with open(path) as f:
				counts = [int(x) for x in f.read().split()]
		except (OSError, ValueError):
			missing.append(path)
			continue
		total = [a + b for a, b in zip(total, counts)]
	if missing:
		print("missing summaries (a run did not finish): " + ", ".join(missing))
		total[1] += len(missing)
	with open(out, "w") as f:
		f.write(f"{total[0]} {total[1]} {total[2]}\n")
	print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
	return 1 if total[1] else 0


if __name__ == "__main__":
	sys.exit(main())

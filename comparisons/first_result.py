#!/usr/bin/env python3
"""Runs a command, reads its stdout to the end, and prints the time to the first output
line, the total time, the number of lines and the peak RSS of the command, as JSON.

Usage: python3 comparisons/first_result.py CMD [ARGS...]
"""
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
first = None
lines = 0
for _ in proc.stdout:
    if first is None:
        first = time.perf_counter() - start
    lines += 1
proc.wait()
total = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"first_result_s": first, "total_s": total, "lines": lines,
                  "exit": proc.returncode, "child_peak_rss_kb": peak_kb}))

#!/usr/bin/env python3
"""The source document's example, reading the URL list from a file.

Usage: python3 comparisons/python_example.py URLS.txt [WORKERS] [TIMEOUT]

ThreadPoolExecutor + urllib + as_completed, exactly as in Python's concurrent.futures docs,
except that the URLs come from a file (one per line, blank lines and # comments skipped).
"""
import sys
import urllib.request
from concurrent import futures


def load_url(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as conn:
        return conn.read()


def main():
    path = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    with open(path) as f:
        urls = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    with futures.ThreadPoolExecutor(max_workers=workers) as executor:
        future_to_url = {executor.submit(load_url, url, timeout): url for url in urls}
        for future in futures.as_completed(future_to_url):
            url = future_to_url[future]
            try:
                print("%r page is %d bytes" % (url, len(future.result())))
            except Exception as e:
                print("%r generated an exception: %s" % (url, e))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Alert poller: follows the gateway's breached metric_snapshots feed over the HTTP API.

Standard library only. It follows the documented cursor (docs/integration.md): ask for rows
with `id > after_id` in ascending id order, print them, store `next_after_id`, and ask again
at once while `has_more` is true. The cursor is written to a file after every page, so each
breached row is printed once, also across restarts. Never use time as the cursor.

    python3 poll.py --api http://127.0.0.1:8081 [--token T] [--cursor-file F] [--once]

Each alert is one tab-separated line:

    metric  value  threshold  model  trace_id  llm_span_id  request_index

`llm_span_id` is the LLM call the value measures and `request_index` the request's position in
its trace (both `null` for rows written before the gateway's schema version 6).
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def read_cursor(path):
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def write_cursor(path, after_id):
    # Write then rename: a crash never leaves a half-written cursor.
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{after_id}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fetch_page(api, token, after_id, limit, timeout):
    query = urllib.parse.urlencode({"breached": "true", "after_id": after_id, "limit": limit})
    req = urllib.request.Request(f"{api.rstrip('/')}/api/metric-snapshots?{query}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def fmt(v):
    return "null" if v is None else str(v)


def catch_up(args):
    """Reads pages until one says has_more = false; returns the number of alerts printed."""
    after_id = read_cursor(args.cursor_file)
    printed = 0
    while True:
        page = fetch_page(args.api, args.token, after_id, args.limit, args.timeout)
        for s in page["snapshots"]:
            if s["breached"]:  # the query asks for breached rows only; be explicit anyway
                print(
                    "\t".join(
                        fmt(s.get(k))
                        for k in (
                            "metric",
                            "value",
                            "threshold",
                            "model",
                            "trace_id",
                            "llm_span_id",
                            "request_index",
                        )
                    ),
                    flush=True,
                )
                printed += 1
        nxt = page["next_after_id"]
        if nxt is not None and nxt != after_id:
            after_id = nxt
            write_cursor(args.cursor_file, after_id)
        if not page["has_more"]:
            return printed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", default="http://127.0.0.1:8081", help="the gateway API base URL")
    p.add_argument("--token", default=os.environ.get("GATEWAY_API_TOKEN", ""),
                   help="[api] token, if set (default: $GATEWAY_API_TOKEN)")
    p.add_argument("--cursor-file", default="alert-poller.cursor",
                   help="where the last seen id is kept (default: ./alert-poller.cursor)")
    p.add_argument("--limit", type=int, default=500, help="rows per page (the API caps it at 1000)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between catch-up passes")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds")
    p.add_argument("--once", action="store_true", help="one catch-up pass, then exit")
    args = p.parse_args(argv)
    while True:
        try:
            catch_up(args)
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            # The cursor only moves after a page is printed: the next pass resumes there.
            print(f"alert-poller: {e}", file=sys.stderr, flush=True)
            if args.once:
                return 1
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m ops.fuzz --url URL [--token T] [--examples N] [--seed S] [--pid PID]``: fuzz and print the table."""

from __future__ import annotations

import argparse
import sys

from ops.fuzz.openapi_run import fuzz_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.fuzz", description=__doc__)
    parser.add_argument("--url", required=True, help="API server base URL, e.g. http://127.0.0.1:6443")
    parser.add_argument("--token", help="bearer token sent with every request")
    parser.add_argument("--ca-cert", help="CA bundle to verify an https server with")
    parser.add_argument("--examples", type=int, default=12, help="cases per operation and generation mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pid", type=int, help="API server process id, to report its memory")
    parser.add_argument("--match", default="", help="only operations whose path contains this text")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each operation as it ends")
    args = parser.parse_args(argv)
    report = fuzz_server(
        args.url,
        examples=args.examples,
        seed_value=args.seed,
        token=args.token,
        verify=args.ca_cert or True,
        server_pid=args.pid,
        only=(lambda _m, path: args.match in path) if args.match else None,
        progress=print if args.verbose else None,
    )
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

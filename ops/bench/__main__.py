"""``python -m ops.bench all --quick|--full`` runs every benchmark in turn; ``python -m ops.bench NAME
[ARGS]`` runs one (the same as ``python -m ops.bench.NAME ARGS``).

Each benchmark module in ``SUITES`` has ``main(argv) -> int`` and the two argument lists ``QUICK``
(a smoke run: small sizes, seconds each; all of them together stay under 5 minutes on 2 cores) and
``FULL`` (the sizes the README's figures come from). A benchmark that fails does not stop the others;
the exit code is the number that failed.
"""

from __future__ import annotations

import importlib
import sys
import time

SUITES = ("store", "api", "watch", "scheduler", "startup", "scale")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(SUITES))
        return 0
    if args[0] != "all":
        return importlib.import_module(f"ops.bench.{args[0]}").main(args[1:])
    full = "--full" in args[1:]
    failed = []
    started = time.monotonic()
    for name in SUITES:
        module = importlib.import_module(f"ops.bench.{name}")
        argv_ = list(module.FULL if full else module.QUICK)
        print(f"\n===== {name} {' '.join(argv_)}", flush=True)
        t0 = time.monotonic()
        try:
            code = module.main(argv_)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next benchmark
            print(f"{name} failed: {exc!r}", flush=True)
            code = 1
        print(f"===== {name}: exit {code} in {time.monotonic() - t0:.0f} s", flush=True)
        if code:
            failed.append(name)
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s; failed: {', '.join(failed) or 'none'}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())

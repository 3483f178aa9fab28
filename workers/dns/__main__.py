"""``python -m workers.dns``: see ``workers.dns.daemon``."""

import sys

from workers.dns.daemon import main

if __name__ == "__main__":
    main(sys.argv[1:])

"""`python slow_server.py DELAY_S BASE_DIR ...`: `zoo serve` whose every
model call first sleeps DELAY_S seconds.

Tests of shutdown and limits need requests that stay in flight; the delay
is injected here, from the tests, rather than living in the server.
"""

import sys
import time

from zoo.serving import server
from zoo.serving.signatures import SignatureInfo


def main() -> int:
    delay_s = float(sys.argv[1])
    run = SignatureInfo.run

    def slow_run(self, arrays):
        time.sleep(delay_s)
        return run(self, arrays)

    SignatureInfo.run = slow_run
    return server.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

"""`python -m zoo.serving BASE_DIR --port N`: run the REST server."""

import sys

from zoo.serving.server import main

if __name__ == "__main__":
    sys.exit(main())

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for sub in ("host_tests", "tools", "firmware", "lib", ""):
    path = os.path.join(REPO, sub) if sub else REPO
    if path not in sys.path:
        sys.path.insert(0, path)

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for sub in ("host_tests", "tools", ""):
    path = os.path.join(REPO, sub) if sub else REPO
    if path not in sys.path:
        sys.path.insert(0, path)
import mp_env  # noqa: E402  (tools/, above)

mp_env.use_module_path()  # firmware/ and the lib/ folders, as the sim board's MICROPYPATH

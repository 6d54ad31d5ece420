# Boot entry: MicroPython runs main.py after boot.py. Kept tiny and in source form; everything
# else is compiled .mpy in /lib (make deploy) or the repo folders (the sim board's MICROPYPATH).
import sys

if "lib" not in sys.path:
    sys.path.append("lib")  # the unix port (a virtual board) has no /lib on its default path

import app

app.main()

# Runs portable test modules under the MicroPython unix port:
#   micropython host_tests/mp_runner.py test_module [test_module ...]
# Calls every top-level test_* function, prints one line per test and a closing
# "N passed, N failed, N skipped" line; exits 1 if any test failed.
import sys

import support


def run_module(name, counts):
    module = __import__(name)
    names = sorted(n for n in dir(module) if n.startswith("test_"))
    for test_name in names:
        test = getattr(module, test_name)
        try:
            test()
        except support.Skip as e:
            counts[2] += 1
            print("SKIP %s.%s: %s" % (name, test_name, e))
        except Exception as e:  # report every failure, then go on with the next test
            counts[1] += 1
            print("FAIL %s.%s" % (name, test_name))
            sys.print_exception(e)
        else:
            counts[0] += 1
            print("PASS %s.%s" % (name, test_name))


def main():
    counts = [0, 0, 0]
    for name in sys.argv[1:]:
        run_module(name, counts)
    print("%d passed, %d failed, %d skipped" % (counts[0], counts[1], counts[2]))
    if counts[1] or not counts[0]:
        sys.exit(1)


main()

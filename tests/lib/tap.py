"""tap.py - the check helper the Python tests share: "ok"/"not ok" lines and the counts.

The counterpart of tap.sh for tests written in Python. A test puts this
directory on sys.path, reports each case with check(cond, what, detail) and
ends with sys.exit(done()).
"""
import sys

passed = failed = 0


def check(cond, what, detail=""):
    """Prints "ok - WHAT", or "not ok - WHAT: DETAIL" (the detail cut to 600
    characters) when cond is false, and counts it; returns cond."""
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - %s%s" % (what, (": " + str(detail)[:600]) if detail else ""))
    sys.stdout.flush()
    return cond


def done():
    """Prints "N passed, M failed"; returns the exit status: 1 if a check failed, else 0."""
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0

#!/usr/bin/env python3
"""Times Python's plistlib loading (and dumping) the same corpus files as benches/decode.rs.

Run from anywhere: python3 mdm-checkin/benches/plistlib_reference.py
Prints microseconds per operation and MB/s, to compare with the criterion figures.
"""
import pathlib
import plistlib
import timeit

HERE = pathlib.Path(__file__).resolve()
FILES = {
    "TokenUpdate": "checkin/nanomdm_TokenUpdate.1.plist",
    "DeviceInformation": "command-results/commandment_DeviceInformation_macOS-10.13.1.xml",
}


def corpus_dir():
    for parent in HERE.parents:
        candidate = parent / "shared" / "corpus"
        if candidate.is_dir():
            return candidate
    raise SystemExit("shared/corpus not found above " + str(HERE))


def best_of(stmt, number):
    runs = timeit.repeat(stmt, number=number, repeat=5)
    return min(runs) / number


def main():
    root = corpus_dir()
    for name, rel in FILES.items():
        data = (root / rel).read_bytes()
        value = plistlib.loads(data)
        number = max(1, 2_000_000 // len(data))
        load = best_of(lambda: plistlib.loads(data), number)
        dump = best_of(lambda: plistlib.dumps(value), number)
        mbps = len(data) / load / 1e6
        print(f"{name:18} {len(data):6} B  plistlib.loads {load * 1e6:8.2f} us ({mbps:6.1f} MB/s)"
              f"  plistlib.dumps {dump * 1e6:8.2f} us")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times Python's plistlib.loads on the payloads benches/plist_decode.rs decodes.

Run from anywhere: python3 mdm-proto/benches/plistlib_peer.py
Prints the machine load, then microseconds per plistlib.loads (best of 5 batches), to set
against the criterion figures of `cargo bench -p mdm-proto --bench plist_decode` in the same
session.
"""
import os
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


def main():
    root = corpus_dir()
    print("load average: %.2f %.2f %.2f" % os.getloadavg())
    for name, rel in FILES.items():
        data = (root / rel).read_bytes()
        plistlib.loads(data)
        number = max(1, 2_000_000 // len(data))
        best = min(timeit.repeat(lambda: plistlib.loads(data), number=number, repeat=5)) / number
        print(f"{name:18} {len(data):6} B  plistlib.loads {best * 1e6:8.2f} us"
              f" ({len(data) / best / 1e6:6.1f} MB/s)")


if __name__ == "__main__":
    main()

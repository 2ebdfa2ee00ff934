#!/usr/bin/env python3
"""conformance-table.py RESULTS.log BASELINE.md: the per-program table of
docs/CONFORMANCE.md, berth-oci beside runc and crun from the baseline."""
import re, sys
ours = {}
total = ""
for line in open(sys.argv[1]):
    m = re.match(r"^([a-z_0-9]+)\s+(PASS|FAIL|ERROR)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", line)
    if m:
        name, res, ok, nok, skip, _, pp, pf, _ = m.groups()
        cell = f"{res} {ok}/{nok}/{skip}" if (ok, nok, skip) != ("0", "0", "0") else res
        cell += (f" +P{pp}" if pp != "0" else "") + (f" +F{pf}" if pf != "0" else "")
        ours[name] = cell
    if re.match(r"^\d+ passed, \d+ failed", line):
        total = line.strip()
base = {}
for line in open(sys.argv[2]):
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if len(c) == 4 and re.match(r"^[a-z_0-9]+$", c[0]) and c[0] != "program":
        base[c[0]] = (c[1], c[2])
print("| program | runc 1.1.5 | crun 1.8.1 | berth-oci |\n|---|---|---|---|")
for name in sorted(set(ours) | set(base)):
    r, c = base.get(name, ("", ""))
    print(f"| {name} | {r} | {c} | {ours.get(name, 'not run')} |")
print(f"\nberth-oci total: **{total}**")

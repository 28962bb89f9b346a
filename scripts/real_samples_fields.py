#!/usr/bin/env python3
"""Per-field accuracy of `caregate read` on ../shared/real-samples against its truth.json.

    scripts/real_samples_fields.py CAREGATE_BINARY [REAL_SAMPLES_DIR]

Prints a markdown table (format family x field: right/total) and the overall count. The
fields are those caregate extracts today; truth keys it has no field for are not scored.
"""
import json, os, subprocess, sys
from collections import defaultdict
from decimal import Decimal, InvalidOperation

binary = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../shared/real-samples")
truth = json.load(open(os.path.join(root, "truth.json")))
INVOICE = ["number", "issue_date", "seller_name", "seller_siren", "seller_siret", "vat_id", "total_ht", "total_tva", "total_ttc", "currency"]

def same(a, b):
    if a is None or b is None:
        return a == b
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except InvalidOperation:
        return str(a).strip() == str(b).strip()

score = defaultdict(lambda: [0, 0])
env = dict(os.environ, CAREGATE_CONFIG="/nonexistent.toml", CAREGATE_LOG="error")
for rel, t in sorted(truth.items()):
    family = rel.split("/")[0]
    out = subprocess.run([binary, "read", os.path.join(root, rel)], capture_output=True, text=True, env=env)
    got = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}
    f = got.get("fields", {})
    checks = {"kind": (got.get("kind"), t.get("kind"))}
    if family in ("cii", "facturx", "ubl", "pdf_misc") and t.get("kind") in ("invoice", "credit_note", "purchase_order"):
        for k in INVOICE:
            if k in t:
                checks[k] = (f.get(k), t[k])
    elif family == "nmap":
        checks["host_count"] = (f.get("host_count"), t["host_count"])
        checks["open_port_count"] = (sum(len(h.get("open_ports", [])) for h in f.get("hosts", [])), t["open_port_count"])
        checks["completed"] = (f.get("completed"), t["completed"])
    elif family == "nessus":
        checks["host_count"] = (f.get("host_count"), t["host_count"])
        checks["by_severity"] = (f.get("vulnerabilities"), t["by_severity"])
    elif family == "openvas":
        checks["by_severity"] = (f.get("vulnerabilities"), t["by_severity_score_band"])
    elif family == "pingcastle":
        checks["domain"] = (f.get("domain"), t["domain"])
        checks["maturity_level"] = (f.get("maturity_level"), t["maturity_level"])
        checks["rule_count"] = (len(f.get("rules", [])), t["rule_count"])
    if "vat_id" in checks:
        # A VAT id is the same with or without the spaces it is printed with.
        checks["vat_id"] = tuple(v.replace(" ", "") if isinstance(v, str) else v for v in checks["vat_id"])
    for field, (g, w) in checks.items():
        ok = g == w if isinstance(w, (dict, list, bool)) else same(g, w)
        if not ok and os.environ.get("VERBOSE"):
            print(f"  {rel}: {field} = {g!r}, truth {w!r}", file=sys.stderr)
        s = score[(family, field)]
        s[0] += ok
        s[1] += 1
rows = sorted(score.items())
print("| family | field | right |\n|---|---|---|")
for (family, field), (r, n) in rows:
    print(f"| {family} | {field} | {r}/{n} |")
r = sum(v[0] for v in score.values()); n = sum(v[1] for v in score.values())
print(f"\n{r}/{n} fields right ({100 * r / n:.1f} %)")

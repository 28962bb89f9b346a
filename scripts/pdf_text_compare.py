#!/usr/bin/env python3
"""Word recall and time of two caregate builds' PDF text against pdftotext, on the PDFs
under the given directories: the build before issue #13 (lopdf's text) and the current one
(poppler's words regrouped into rows), each through `caregate read --text` (one process
per file, like pdftotext). Recall: share of the distinct words (2+ characters, folded)
of pdftotext's output found in the build's text.

    scripts/pdf_text_compare.py BEFORE_BINARY AFTER_BINARY DIR...
"""
import os, re, subprocess, sys, time, unicodedata

def words(text):
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return {w for w in re.split(r"[^\w]+", text) if len(w) >= 2}

def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    return out.stdout if out.returncode == 0 else "", (time.perf_counter() - start) * 1000

before, after, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
pdfs = sorted(os.path.join(d, f) for d in dirs for f in os.listdir(d) if open(os.path.join(d, f), "rb").read(5) == b"%PDF-")
print("| PDF | pdftotext ms | before (lopdf) ms | recall | after (poppler rows) ms | recall |")
print("|---|---|---|---|---|---|")
tot = {"ref": 0, "b": 0, "a": 0, "wb": 0, "wa": 0, "n": 0}
for p in pdfs:
    ref, tr = timed(["pdftotext", "-q", p, "-"])
    b, tb = timed([before, "read", "--text", p])
    a, ta = timed([after, "read", "--text", p])
    want = words(ref)
    rb = len(want & words(b)); ra = len(want & words(a))
    pct = lambda n: f"{100 * n / len(want):.1f} % ({n}/{len(want)})" if want else "n/a (no text)"
    print(f"| {os.path.relpath(p, os.path.dirname(os.path.dirname(p)))} | {tr:.1f} | {tb:.1f} | {pct(rb)} | {ta:.1f} | {pct(ra)} |")
    tot["ref"] += tr; tot["b"] += tb; tot["a"] += ta; tot["wb"] += rb; tot["wa"] += ra; tot["n"] += len(want)
n = max(tot["n"], 1)
print(f"\n{len(pdfs)} PDFs: pdftotext {tot['ref']:.0f} ms, before {tot['b']:.0f} ms, after {tot['a']:.0f} ms; "
      f"word recall before {100 * tot['wb'] / n:.1f} % ({tot['wb']}/{n}), after {100 * tot['wa'] / n:.1f} % ({tot['wa']}/{n}).")

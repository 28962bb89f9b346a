#!/usr/bin/env python3
"""Does a long scanned report hold up the other files of its dossier? Measured, not asserted.

    python3 scripts/bench-ocr-pool.py CAREGATE_BINARY [SCANS [PAGES]]

Makes a dossier of SCANS scanned reports (4 by default; PAGES pages each, 6 by default, of
samples/annuaire/rapport-audit-ad.pdf rasterised by Ghostscript into image-only PDFs, as a
copier sends them) and 30 small structured files (the samples' AD audit and nmap scans,
copied; the scans are sent first), then sends it with
`caregate submit` on the embedded stack (clamd from scripts/services.sh), three times: OCR inline
in the read stage (`worker.ocr_threads = 0`), in an OCR pool of one thread, and in the
default pool (one thread per core). From each
run's index it prints, in seconds after the first upload, when the last small file was
stored and when the last scan's text was known, and the scans' outcomes.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_dossier(into: Path, scans: int, pages: int) -> None:
    into.mkdir()
    for n in range(scans):
        first = 1 + n * pages
        subprocess.run(
            ["gs", "-q", "-sDEVICE=pdfimage8", "-r200", f"-dFirstPage={first}", f"-dLastPage={first + pages - 1}", "-o", str(into / f"0-rapport-scanne-{n}.pdf"),
             str(ROOT / "samples/annuaire/rapport-audit-ad.pdf")],
            check=True,
        )
    small = [ROOT / "samples/annuaire/ad_hc_ch-exemple.local.xml", ROOT / "samples/exposition/nmap-2024-05-02.xml"]
    small = [p for p in small if p.exists()] or sorted((ROOT / "samples/annuaire").glob("*.xml"))
    for i in range(30):
        src = small[i % len(small)]
        # Different bytes each: one record and one object per file.
        body = src.read_bytes().replace(b"</", f"<!-- copie {i} --></".encode(), 1)
        (into / f"piece-{i:02}{src.suffix}").write_bytes(body)


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run(binary: str, dossier: Path, ocr_threads: int) -> dict:
    data = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREGATE_")}
    env.update({"CAREGATE_BACKENDS__DATA_DIR": str(data), "CAREGATE_CLAMD__ADDRESS": "127.0.0.1:3310"})
    if ocr_threads is not None:
        env["CAREGATE_WORKER__OCR_THREADS"] = str(ocr_threads)
    start = time.monotonic()
    subprocess.run([binary, "submit", "--establishment", "750000001", "--json", str(dossier)], env=env, check=False, stdout=subprocess.DEVNULL)  # exit 1: some file needs review
    wall = time.monotonic() - start
    db = sqlite3.connect(data / "index.sqlite")
    events = db.execute("SELECT evidence_id, kind, detail, at FROM evidence_events ORDER BY seq").fetchall()
    paths = {}
    first, small_done, scan_known, scans = None, 0.0, {}, {}
    for evidence, kind, detail, when in events:
        t = at(when)
        detail = json.loads(detail)
        if kind == "received":
            paths[evidence] = detail.get("path", "")
            first = t if first is None else min(first, t)
            continue
        path = paths.get(evidence, "")
        if "rapport-scanne" in path:
            if kind in ("stored", "needs_review", "failed", "ocr_read"):
                findings = detail.get("findings", [])
                if "ocr_pending" not in findings:
                    scan_known[path] = t
                scans[path] = f"{kind} {','.join(findings) or '-'} {detail.get('kind') or ''}".strip()
        elif kind in ("stored", "needs_review", "failed"):
            small_done = max(small_done, t)
    shutil.rmtree(data, ignore_errors=True)
    return {
        "ocr": "inline" if ocr_threads == 0 else f"pool ({ocr_threads or 'default'} threads)",
        "wall_s": round(wall, 1),
        "last_small_file_s": round(small_done - first, 2),
        "last_scan_read_s": round(max(scan_known.values()) - first, 1) if scan_known else None,
        "scans": sorted(scans.values()),
    }


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    scans = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    pages = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    work = Path(tempfile.mkdtemp(prefix="bench-ocr-dossier-"))
    dossier = work / "dossier"
    make_dossier(dossier, scans, pages)
    for threads in (0, 1, None):
        print(json.dumps(run(binary, dossier, threads), ensure_ascii=False))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

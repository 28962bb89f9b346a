#!/usr/bin/env python3
"""Writes whole domain-1 dossiers, as establishments send them, with the verdicts a careful
ANS controller would give each objective (issue #24 §1).

    scripts/make-dossiers.py OUT_DIR [--only N,N,...]

Each dossier is a folder OUT_DIR/NN-<finess>-<what>/ with its files and an expected.json:
the establishment (FINESS, name, category), the campaign, the files in the order they are
sent, each with the objectives it is declared for (as `caregate submit --objective` takes
them), and per objective of the referential the verdict expected (`met`, `not_met`,
`needs_review`) with a one-line French justification. `caregate accuracy --dossiers
OUT_DIR` sends them and compares.

Several establishments of each category (GHT, public, EBNL, private); for each objective
clean cases and the defects controllers meet (issue #24): unsigned, hand-signed and
scanned attestations, one modified after signing, one signed under an unknown authority;
PingCastle before/after pairs with realistic rules (levels from PingCastle's own
`RuleDurANSSI`, ../shared/reference/care-programme-2026.md appendix A), a report edited by
hand (its IntegrityRules no longer match), encrypted reports and ORADAD archives, a
consultancy PDF report stating its level; nmap and Nessus before/after, nmap without a
vulnerability scan, scans of private addresses only, a critical vulnerability left; invoices through Chromium, LibreOffice and
Ghostscript, scans of them (Pillow as make-corpus.py does, and ImageMagick), one with a
stain over its total, invoices about an AD audit, one dated before the programme, one
whose totals do not add up, one sent by two establishments, a ceiling exceeded; CSV and
PDF financial reports, one that forgets an invoice, one listing an invoice never sent, a
cover letter uploaded after the report; quotes, purchase orders, network diagrams.

The documents come from make-corpus.py's producers (imported, not copied) and, for the
signed attestations, a throw-away PKI as make-signed-pdfs.py makes it: OUT_DIR/pki/root.pem
is the authority the signatures are validated against. Everything is invented.
Deterministic: the same script writes the same documents and verdicts (scans' noise is
seeded; producers stamp their own creation dates and signatures their signing time).
Needs: chromium, soffice, ps2pdf, pdftoppm, convert (ImageMagick), Pillow, pyhanko --
scripts/services.sh installs them.
"""
import concurrent.futures
import importlib.util
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The sibling scripts are loaded as modules: no __pycache__ left in scripts/.
sys.dont_write_bytecode = True


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, HERE / file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


corpus = load("make_corpus", "make-corpus.py")
CAMPAIGN = "care-d1-2024"
OBJECTIVES = ["D1.PRE", "D1.AD.AUDIT", "D1.AD.LEVEL", "D1.EXP.AUDIT", "D1.EXP.REMED", "D1.FIN"]
MET, NOT_MET, REVIEW = "met", "not_met", "needs_review"

# ANSSI levels of PingCastle rules (RuleDurANSSI, appendix A of care-programme-2026.md),
# and PingCastle's own RuleMaturityLevel for rules that are no ANSSI checkpoint: what a
# controller reading PingCastle's rule pages knows of each rule used below.
ANSSI = {"S-Inactive": 1, "P-Kerberoasting": 1, "P-AdminPwdTooOld": 1, "S-DC-2012": 1, "A-Krbtgt": 2, "A-MinPwdLen": 2, "S-PwdNeverExpires": 2,
         "P-UnconstrainedDelegation": 2, "S-DesEnabled": 2, "S-PwdLastSet-45": 3, "P-ProtectedUsers": 3, "S-AesNotEnabled": 3, "A-PreWin2000Other": 3,
         "S-ADRegistration": 4, "P-DNSAdmin": 4}
MATURITY = {"A-AuditDC": 3, "P-RecycleBin": 3, "S-DC-SubnetMissing": 3, "A-LAPS-Not-Installed": 3, "S-SMB-v1": 3, "A-AuditPowershell": 3,
            "A-BackupMetadata": 3, "P-Delegated": 3, "A-AdminSDHolder": 3}
CATEGORY = {"A": "Anomalies", "P": "PrivilegedAccounts", "S": "StaleObjects", "T": "Trusts"}


def level_of(rules):
    """The directory's ANSSI level: the lowest among triggered checkpoints, 5 if none."""
    return min([ANSSI[r] for r in rules if r in ANSSI] or [5])


def maturity_of(rules):
    """PingCastle's MaturityLevel: the lowest of each rule's ANSSI and own levels."""
    return min([min(x for x in (ANSSI.get(r), MATURITY.get(r)) if x) for r in rules] or [5])


# --- establishments -----------------------------------------------------------
TOWNS = ["Valmont", "Saint-Aubin", "Montbrison", "Lisieux", "Vierzon", "Dole", "Millau", "Guéret", "Redon", "Sedan", "Dax", "Autun",
         "Figeac", "Lannion", "Oloron", "Brioude", "Tulle", "Cahors", "Mende", "Privas"]
NAMES = {"ght": "GHT {t} – Centre Hospitalier de {t} (support)", "public": "Centre Hospitalier de {t}",
         "ebnl": "Centre de rééducation mutualiste de {t}", "private": "Clinique Saint-Joseph de {t}"}


def establishment(n, category):
    town = TOWNS[n % len(TOWNS)]
    dept = [76, 14, 42, 14, 18, 39, 12, 23, 35, 8, 40, 71, 46, 22, 64, 43, 19, 46, 48, 7][n % 20]
    return {"finess": f"{dept:02d}0{n + 10:03d}0{n % 10}{(n * 7) % 10}", "name": NAMES[category].format(t=town), "category": category, "town": town,
            "siret": establishment_siret(n, dept),
            "domain": f"{town.lower().replace('é', 'e').replace(' ', '-').replace('ï', 'i')}-{category}.local",
            "net": f"203.0.113.{16 * (n % 15) + 1}", "net6": f"198.51.100.{16 * (n % 15) + 2}"}


def buyer(e):
    return (e["name"], f"{3 + e['finess'].count('0')} rue de l'Hôpital", f"{e['finess'][:2]}000 {e['town']}", f"FINESS {e['finess']}")


def luhn_digit(digits):
    """The digit that makes `digits` + it pass the Luhn key SIREN and SIRET carry."""
    return next(str(k) for k in range(10) if luhn_ok(digits + str(k)))


def luhn_ok(digits):
    total = 0
    for i, c in enumerate(reversed(digits)):
        v = int(c) * (2 if i % 2 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def establishment_siret(n, dept):
    """A public establishment's SIRET (its SIREN starts with 26, as public health
    establishments' do; the site's NIC after it), both keys right."""
    siren = f"26{dept:02d}{n + 10:04d}"
    siren += luhn_digit(siren)
    nic = f"{1 + n % 7:04d}"
    return siren + nic + luhn_digit(siren + nic)


# The establishment's own SIRET, printed in the buyer's block of every invoice it is sent
# (in the ways invoicing software prints it), as real dossiers' invoices do: it must
# never be read as the seller's. Wrapped here so that make-corpus.py's layouts stay as
# they are.
BUYER_SIRET = [None]
_html_invoice, _ps_invoice = corpus.html_invoice, corpus.ps_invoice


def siret_written(siret, seed):
    return [f"SIRET : {siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}", f"SIRET {siret}", f"N° SIRET : {siret[:9]} {siret[9:]}"][seed % 3]


def html_invoice_with_buyer_siret(d, layout):
    html = _html_invoice(d, layout)
    if BUYER_SIRET[0] is None:
        return html
    city = corpus.BUYER[2]
    assert city in html, "the buyer's town is in every layout's buyer block"
    return html.replace(city, f"{city}<br>{siret_written(BUYER_SIRET[0], int(d['day']) + layout)}", 1)


def ps_invoice_with_buyer_siret(d):
    if BUYER_SIRET[0] is None:
        return _ps_invoice(d)
    saved = corpus.BUYER
    corpus.BUYER = (saved[0], saved[1], f"{saved[2]} - {siret_written(BUYER_SIRET[0], int(d['day']))}", saved[3])
    try:
        return _ps_invoice(d)
    finally:
        corpus.BUYER = saved


corpus.html_invoice, corpus.ps_invoice = html_invoice_with_buyer_siret, ps_invoice_with_buyer_siret


# --- producers ------------------------------------------------------------------
class Producers:
    """Chromium prints in parallel (each with its own profile); LibreOffice takes its
    documents in one batch at the end, as make-corpus.py does."""

    def __init__(self, work):
        self.work = work
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
        self.jobs = []
        self.lo = []
        self.after = []  # (function, args) run once every PDF exists, in order
        self.n = 0

    def html(self, html, out, producer):
        self.n += 1
        src = os.path.join(self.work, f"{self.n:04d}.html")
        Path(src).write_text(html, encoding="utf-8")
        if producer == "chromium":
            profile = os.path.join(self.work, f"chrome-{self.n}")
            self.jobs.append(self.pool.submit(corpus.run, ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                                                           f"--user-data-dir={profile}", f"--print-to-pdf={out}", "file://" + src]))
        else:
            self.lo.append((src, out))

    def ps(self, ps_bytes, out):
        self.n += 1
        src = os.path.join(self.work, f"{self.n:04d}.ps")
        Path(src).write_bytes(ps_bytes)
        corpus.run(["ps2pdf", src, out])

    def then(self, fn, *args):
        self.after.append((fn, args))

    def finish(self):
        for j in self.jobs:
            j.result()
        if self.lo:
            profile = "file://" + os.path.join(self.work, "lo-profile")
            soffice = ["soffice", f"-env:UserInstallation={profile}", "--headless", "--norestore"]
            corpus.run(soffice + ["--infilter=HTML (StarWriter)", "--convert-to", "odt:writer8", "--outdir", self.work] + [s for s, _ in self.lo])
            corpus.run(soffice + ["--convert-to", "pdf:writer_pdf_Export", "--outdir", self.work] + [s[:-5] + ".odt" for s, _ in self.lo])
            for src, out in self.lo:
                shutil.move(src[:-5] + ".pdf", out)
        for fn, args in self.after:
            fn(*args)
        self.pool.shutdown()


def magick_scan(pdf_path, dpi, seed, out_path):
    """A copier's scan through ImageMagick: the page rasterised (poppler: Debian's
    ImageMagick policy refuses PDF), turned a little, blurred, noisy, grey, JPEG'd."""
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as t:
        corpus.run(["pdftoppm", "-gray", "-singlefile", "-r", str(dpi), "-png", pdf_path, os.path.join(t, "p")])
        corpus.run(["convert", os.path.join(t, "p.png"), "-background", "white", "-rotate", f"{rnd.uniform(-1.2, 1.2):.2f}", "-attenuate", "0.35",
                    "+noise", "Gaussian", "-blur", "0x0.5", "-colorspace", "Gray", "-quality", "72", "-density", str(dpi), out_path])


# --- documents ----------------------------------------------------------------------
def make_invoice(seed, layout, seller, date, items=None):
    d, t = corpus.invoice(seed, layout, seller)
    if items is not None:
        d, t = corpus.audit_invoice(seed, layout, seller, items)
    y, m, day = date
    # The number carries the year it was issued in.
    number = d["number"].replace(str(d["year"]), str(y), 1)
    d.update(year=y, month=m, day=day, number=number)
    t.update(issue_date=f"{y}-{m:02d}-{day:02d}", number=number)
    return d, t


def pingcastle_xml(e, rules, date, tampered=False):
    """A PingCastle healthcheck as PingCastle 3.2 writes it: its rules, its MaturityLevel,
    and IntegrityRules computed over the rules (before one is removed by hand, when
    `tampered`)."""
    import base64, hashlib
    ids = sorted((r.replace("-", "").replace(".", "") for r in rules), key=lambda s: (s.lower(), [c.isupper() for c in s]))
    seal = base64.b64encode(hashlib.sha256(",".join(ids).encode()).digest()).decode()
    shown = rules[1:] if tampered else rules
    points = {r: 5 + 5 * (len(r) % 4) for r in shown}
    rr = "\n".join(f"    <HealthcheckRiskRule><Points>{points[r]}</Points><Category>{CATEGORY[r[0]]}</Category><Model>Model</Model><RiskId>{r}</RiskId>"
                   f"<Rationale>{r} : constat relevé</Rationale></HealthcheckRiskRule>" for r in shown)
    score = lambda c: sum(points[r] for r in shown if r[0] == c)
    netbios = e["domain"].split(".")[0].upper()[:15]
    return f"""<?xml version="1.0" encoding="utf-8"?>
<HealthcheckData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" IntegrityRules="{seal}">
  <EngineVersion>3.2.0.1</EngineVersion>
  <GenerationDate>{date}T09:41:12.0000000+02:00</GenerationDate>
  <DomainFQDN>{e['domain']}</DomainFQDN>
  <NetBIOSName>{netbios}</NetBIOSName>
  <ForestFQDN>{e['domain']}</ForestFQDN>
  <GlobalScore>{max([score(c) for c in 'APST'] + [0])}</GlobalScore>
  <StaleObjectsScore>{score('S')}</StaleObjectsScore>
  <PrivilegiedGroupScore>{score('P')}</PrivilegiedGroupScore>
  <TrustScore>{score('T')}</TrustScore>
  <AnomalyScore>{score('A')}</AnomalyScore>
  <MaturityLevel>{maturity_of(rules)}</MaturityLevel>
  <RiskRules>
{rr}
  </RiskRules>
</HealthcheckData>
"""


def nmap_xml(e, date, hosts, finished=True):
    """nmap -sV -oX: each host (address, [(port, service)]) up with its open ports."""
    import calendar
    y, m, d = date
    start = calendar.timegm((y, m, d, 9, 0, 0))
    body = ""
    for addr, ports in hosts:
        ps = "".join(f'<port protocol="tcp" portid="{p}"><state state="open" reason="syn-ack"/><service name="{s}"/></port>' for p, s in ports)
        body += f'<host starttime="{start + 5}" endtime="{start + 180}"><status state="up" reason="echo-reply"/><address addr="{addr}" addrtype="ipv4"/><ports>{ps}</ports></host>\n'
    fin = f'<runstats><finished time="{start + 400}" elapsed="400.00" summary="Nmap done" exit="success"/><hosts up="{len(hosts)}" down="0" total="{len(hosts)}"/></runstats>' if finished else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sV -oX scan.xml {hosts[0][0]}/28" start="{start}" version="7.94" xmloutputversion="1.05">
{body}{fin}
</nmaprun>
"""


def nessus_xml(e, date, items):
    """Nessus v2 export: items are (address, port, severity, cvss, name)."""
    y, m, d = date
    day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][__import__("datetime").date(y, m, d).weekday()]
    mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1]
    hosts = {}
    for addr, port, sev, cvss, name in items:
        hosts.setdefault(addr, []).append(
            f'<ReportItem port="{port}" svc_name="www" protocol="tcp" severity="{sev}" pluginID="{10000 + port + sev}" pluginName="{name}">'
            f'<risk_factor>{["None", "Low", "Medium", "High", "Critical"][sev]}</risk_factor><cvss3_base_score>{cvss}</cvss3_base_score></ReportItem>')
    body = "".join(f'<ReportHost name="{a}"><HostProperties><tag name="HOST_START">{day} {mon} {d:02d} 14:00:00 {y}</tag>'
                   f'<tag name="HOST_END">{day} {mon} {d:02d} 14:40:00 {y}</tag><tag name="host-ip">{a}</tag></HostProperties>{"".join(xs)}</ReportHost>\n'
                   for a, xs in hosts.items())
    return f'<?xml version="1.0" ?>\n<NessusClientData_v2>\n<Report name="{e["name"]} - externe">\n{body}</Report>\n</NessusClientData_v2>\n'


def report_csv(e, invoices, encoding="utf-8"):
    """The financial report as a spreadsheet exports it: title row, header, one row per
    invoice (number, date, supplier, SIRET, HT, TVA, TTC), the total."""
    fa = lambda v: corpus.fr_amount(Decimal(v), " ")
    lines = [f"Bilan financier – CaRE domaine 1 – {e['name']} (FINESS {e['finess']});;;;;;",
             "N° facture;Date;Fournisseur;SIRET;Montant HT;TVA;Montant TTC"]
    for t in invoices:
        y, m, d = t["issue_date"].split("-")
        lines.append(f"{t['number']};{d}/{m}/{y};{t['seller_name']};{t['seller_siret']};{fa(t['total_ht'])};{fa(t['total_tva'] or 0)};{fa(t['total_ttc'])}")
    tot = lambda k: sum(Decimal(t[k] or 0) for t in invoices)
    lines.append(f"Total;;;;{fa(tot('total_ht'))};{fa(tot('total_tva'))};{fa(tot('total_ttc'))}")
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def report_html(e, invoices):
    """The same financial report printed as a page (a table), as some send it."""
    rows = "".join(f"<tr><td>{t['number']}</td><td>{'/'.join(reversed(t['issue_date'].split('-')))}</td><td>{t['seller_name']}</td><td>{t['seller_siret']}</td>"
                   f"<td class=r>{corpus.fr_amount(Decimal(t['total_ht']))}</td><td class=r>{corpus.fr_amount(Decimal(t['total_tva'] or 0))}</td>"
                   f"<td class=r>{corpus.fr_amount(Decimal(t['total_ttc']))}</td></tr>" for t in invoices)
    tot = lambda k: corpus.fr_amount(sum(Decimal(t[k] or 0) for t in invoices))
    return corpus.page(f"""<h2>Bilan financier – programme CaRE, domaine 1</h2><p>{e['name']} – FINESS {e['finess']}</p>
<table class=b style="width:100%"><tr><th>N° facture</th><th>Date</th><th>Fournisseur</th><th>SIRET</th><th>Montant HT</th><th>TVA</th><th>Montant TTC</th></tr>{rows}
<tr><td colspan=4><b>Total</b></td><td class=r>{tot('total_ht')}</td><td class=r>{tot('total_tva')}</td><td class=r><b>{tot('total_ttc')}</b></td></tr></table>
<p style="margin-top:30pt">Certifié exact, le directeur</p>""")


def audit_report_html(e, seller, date, level):
    """A consultancy's AD audit report in prose, stating the level it found."""
    y, m, d = date
    return corpus.page(f"""<h1>Rapport d'audit de sécurité de l'Active Directory</h1><p>Établissement : {e['name']}</p>
<p>Domaine audité : {e['domain']}</p><p>Date de l'audit : {d:02d}/{m:02d}/{y}</p><p>Auditeur : {seller['name']}</p>
<h2>Synthèse</h2><p>Les contrôleurs de domaine ont été audités avec PingCastle et ORADAD. Niveau de maturité ANSSI atteint : niveau {level}.
Les points de contrôle des niveaux 1 et 2 sont validés ; trois recommandations de niveau 3 restent ouvertes (journalisation,
corbeille AD, sites sans sous-réseau).</p><h2>Recommandations</h2><ol><li>Activer la stratégie d'audit avancée sur les contrôleurs.</li>
<li>Activer la corbeille Active Directory.</li><li>Déclarer les sous-réseaux des sites.</li></ol></body></html>""")


def stained(html, d):
    """A brown stain (coffee) over the invoice's total TTC: what it says cannot be read
    on the scan, by a machine or a person."""
    ttc = next(t for t in (corpus.fr_amount(d["ttc"]), corpus.fr_amount(d["ttc"], " ")) if t in html)
    at = html.rindex(ttc)
    blot = '<span style="background:#2e1d0c;color:#24160a;border-radius:40%;padding:4pt 10pt;box-shadow:0 0 8pt 6pt #3b2612">'
    return html[:at] + blot + ttc + "</span>" + html[at + len(ttc):]


# --- signed attestations -------------------------------------------------------------
class Pki:
    """make-signed-pdfs.py's throw-away authority: a root (OUT/pki/root.pem, the one
    trusted), an intermediate, a signer under it, and a signer under an unknown root."""

    def __init__(self, out):
        self.m = load("make_signed_pdfs", "make-signed-pdfs.py")
        m = self.m
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID
        from asn1crypto import crl as asn1_crl
        root_key, inter_key, other_key = m.rsa_key(), m.rsa_key(), m.rsa_key()
        root = m.certificate("Racine de test", root_key, None, None, ca=True, not_before=m.NOW - 3650 * m.DAY, not_after=m.NOW + 3650 * m.DAY)
        inter = m.certificate("Intermédiaire de test", inter_key, root, root_key, ca=True, crl_url="http://pki.invalid/root.crl")
        other = m.certificate("Racine inconnue", other_key, None, None, ca=True)
        self.signer_key = m.rsa_key()
        self.signer = m.certificate("Directeur d'établissement", self.signer_key, inter, inter_key, eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION],
                                    crl_url="http://pki.invalid/inter.crl")
        self.unknown_key = m.rsa_key()
        self.unknown = m.certificate("Signataire d'une AC inconnue", self.unknown_key, other, other_key)
        tsa_key = m.rsa_key()
        tsa = m.certificate("Horodatage de test", tsa_key, inter, inter_key, eku=[ExtendedKeyUsageOID.TIME_STAMPING], crl_url="http://pki.invalid/inter.crl")
        (Path(out) / "pki").mkdir(parents=True, exist_ok=True)
        (Path(out) / "pki/root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        def crl_of(issuer, key):
            b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(m.NOW - m.DAY).next_update(m.NOW + 30 * m.DAY)
                 .add_extension(x509.CRLNumber(1), critical=False)
                 .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False))
            return asn1_crl.CertificateList.load(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))

        self.crls = [crl_of(root, root_key), crl_of(inter, inter_key)]
        self.a_root, self.a_inter, self.a_other = m.to_asn1_cert(root), m.to_asn1_cert(inter), m.to_asn1_cert(other)
        from pyhanko.sign import timestamps
        from pyhanko_certvalidator.registry import SimpleCertificateStore
        self.stamper = timestamps.DummyTimeStamper(tsa_cert=m.to_asn1_cert(tsa), tsa_key=m.to_asn1_key(tsa_key),
                                                   certs_to_embed=SimpleCertificateStore.from_certs([self.a_inter, self.a_root]))

    def sign(self, pdf_path, unknown=False, modified_after=False):
        """Signs in place (PAdES B-LT: timestamp and the chain's CRLs embedded), under the
        trusted authority or the unknown one; then, when `modified_after`, appends a
        revision that writes on the page."""
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.pdf_utils import generic
        from pyhanko.sign import fields, signers
        from pyhanko_certvalidator import ValidationContext
        from pyhanko_certvalidator.registry import SimpleCertificateStore
        m = self.m
        if unknown:
            who = signers.SimpleSigner(signing_cert=m.to_asn1_cert(self.unknown), signing_key=m.to_asn1_key(self.unknown_key),
                                       cert_registry=SimpleCertificateStore.from_certs([self.a_other]))
            meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES)
        else:
            who = signers.SimpleSigner(signing_cert=m.to_asn1_cert(self.signer), signing_key=m.to_asn1_key(self.signer_key),
                                       cert_registry=SimpleCertificateStore.from_certs([self.a_inter, self.a_root]))
            vc = ValidationContext(trust_roots=[self.a_root], crls=self.crls, allow_fetching=False, other_certs=[self.a_inter])
            meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
                                                embed_validation_info=True, validation_context=vc)
        w = IncrementalPdfFileWriter(io.BytesIO(Path(pdf_path).read_bytes()))
        buf = io.BytesIO()
        signers.PdfSigner(meta, signer=who, timestamper=None if unknown else self.stamper,
                          new_field_spec=fields.SigFieldSpec("Signature1", box=(300, 80, 500, 140))).sign_pdf(w, output=buf)
        data = buf.getvalue()
        if modified_after:
            w = IncrementalPdfFileWriter(io.BytesIO(data))
            page = w.root["/Pages"]["/Kids"][0].get_object()
            ref = w.add_object(generic.StreamObject(stream_data=b"BT /Helvetica 16 Tf 72 420 Td (Realise du 3 au 28 juin 2024) Tj ET"))
            page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), ref])
            w.update_container(page)
            buf = io.BytesIO()
            w.write(buf)
            data = buf.getvalue()
        Path(pdf_path).write_bytes(data)


# --- the cases, per objective ------------------------------------------------------------
# Each case adds files to a dossier and says what a controller concludes of its
# objective(s): {objective: (verdict, why)}.

class Dossier:
    def __init__(self, n, e, folder, prod):
        self.n, self.e, self.folder, self.prod = n, e, folder, prod
        self.files = []  # [path, objectives, what]
        self.expected = {}
        self.cases = {}
        self.invoices = []  # truths of the invoices sent, for the report
        self.rnd = random.Random(n)

    def path(self, name):
        return os.path.join(self.folder, name)

    def add(self, name, objectives, what):
        self.files.append({"path": name, "objectives": objectives, "what": what})

    def expect(self, objective, verdict, why):
        self.expected[objective] = {"verdict": verdict, "why": why}

    def html(self, name, html, producer, objectives, what):
        self.prod.html(html, self.path(name), producer)
        self.add(name, objectives, what)


def pre_case(case, dz, pki):
    e = dz.e
    seller = corpus.SELLERS[dz.n % 4]
    dz.cases["D1.PRE"] = case
    if case == "absent":
        dz.expect("D1.PRE", REVIEW, "aucune attestation : les prérequis SUN-ES sont à vérifier par le contrôleur")
        return
    name = "attestation-prerequis.pdf"
    producer = "libreoffice" if case == "scan_hand_signed" else "chromium"
    dz.html(name if case != "scan_hand_signed" else "attestation-originale.pdf", corpus.html_attestation(seller), producer, ["D1.PRE"], "attestation")
    if case == "scan_hand_signed":
        dz.files.pop()
        dz.prod.then(corpus.scan, dz.path("attestation-originale.pdf"), 200, dz.n, "jpg", dz.path("attestation-signee-scan.jpg"))
        dz.prod.then(os.remove, dz.path("attestation-originale.pdf"))
        dz.add("attestation-signee-scan.jpg", ["D1.PRE"], "attestation signée à la main, scannée")
        dz.expect("D1.PRE", REVIEW, "attestation signée à la main et scannée : signature non vérifiable, au contrôleur de l'accepter")
    elif case == "unsigned":
        dz.expect("D1.PRE", REVIEW, "attestation sans signature électronique : au contrôleur de l'accepter")
    elif case == "signed":
        dz.prod.then(pki.sign, dz.path(name))
        dz.expect("D1.PRE", MET, "attestation signée électroniquement, signature valide sous une autorité reconnue")
    elif case == "modified_after_signing":
        dz.prod.then(pki.sign, dz.path(name), False, True)
        dz.expect("D1.PRE", NOT_MET, "attestation modifiée après sa signature : la signature ne couvre plus ce qui est affiché")
    elif case == "unknown_ca":
        dz.prod.then(pki.sign, dz.path(name), True)
        dz.expect("D1.PRE", REVIEW, "signée sous une autorité inconnue : signataire à confirmer par le contrôleur")


AD = ["D1.AD.AUDIT", "D1.AD.LEVEL"]
CLEAN_AFTER = ["A-AuditDC", "P-RecycleBin", "S-DC-SubnetMissing", "A-LAPS-Not-Installed"]
REALISTIC_AFTER = ["A-AuditDC", "P-RecycleBin", "S-DC-SubnetMissing", "S-PwdLastSet-45", "P-ProtectedUsers", "S-AesNotEnabled", "S-ADRegistration",
                   "A-PreWin2000Other", "A-AuditPowershell"]
BEFORE = ["S-Inactive", "A-Krbtgt", "P-Kerberoasting", "S-PwdNeverExpires", "A-AuditDC", "P-RecycleBin", "S-SMB-v1", "A-LAPS-Not-Installed"]


def ad_case(case, dz):
    e = dz.e
    hc = f"ad_hc_{e['domain']}"
    seller = corpus.SELLERS[(dz.n + 1) % 4]

    def xml(name, rules, date, tampered=False):
        Path(dz.path(name)).write_text(pingcastle_xml(e, rules, date, tampered), encoding="utf-8")
        dz.add(name, AD, "rapport PingCastle" + (" retouché" if tampered else ""))

    if case == "clean":
        xml(f"{hc}.xml", CLEAN_AFTER, "2024-10-14")
        dz.expect("D1.AD.AUDIT", MET, "rapport PingCastle intact, daté d'octobre 2024, domaine nommé")
        dz.expect("D1.AD.LEVEL", MET, f"aucune règle ANSSI de niveau 1 ou 2 déclenchée : niveau {level_of(CLEAN_AFTER)}, cible 3")
    elif case == "before_after":
        xml(f"avant/{hc}.xml", BEFORE, "2024-04-22")
        xml(f"apres/{hc}.xml", REALISTIC_AFTER, "2024-11-18")
        dz.expect("D1.AD.AUDIT", MET, "rapports PingCastle intacts avant et après remédiation, dans la période")
        dz.expect("D1.AD.LEVEL", MET, f"le rapport d'après remédiation n'a plus de règle de niveau 1 ou 2 (niveau {level_of(REALISTIC_AFTER)}), cible 3")
    elif case == "krbtgt_left":
        after = ["A-Krbtgt"] + CLEAN_AFTER
        xml(f"avant/{hc}.xml", BEFORE, "2024-04-22")
        xml(f"apres/{hc}.xml", after, "2024-11-18")
        dz.expect("D1.AD.AUDIT", MET, "rapports PingCastle intacts, dans la période")
        dz.expect("D1.AD.LEVEL", NOT_MET, "A-Krbtgt (point ANSSI de niveau 2) encore déclenché après remédiation : niveau 2 < cible 3")
    elif case == "min_pwd_len":
        after = ["A-MinPwdLen"] + REALISTIC_AFTER
        xml(f"{hc}.xml", after, "2024-09-02")
        dz.expect("D1.AD.AUDIT", MET, "rapport PingCastle intact, dans la période")
        dz.expect("D1.AD.LEVEL", NOT_MET, "A-MinPwdLen est un point ANSSI de niveau 2 : niveau 2 < cible 3")
    elif case == "tampered":
        # The level-1 rule removed by hand: the report would otherwise read level 3.
        xml(f"{hc}.xml", ["S-Inactive"] + CLEAN_AFTER, "2024-09-10", tampered=True)
        dz.expect("D1.AD.AUDIT", NOT_MET, "règles du rapport PingCastle retouchées : l'empreinte d'intégrité ne correspond plus")
        dz.expect("D1.AD.LEVEL", NOT_MET, "seul rapport retouché : le niveau atteint n'est pas démontré")
    elif case == "encrypted":
        import base64, hashlib
        Path(dz.path(f"{hc}.xml")).write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Element" xmlns="http://www.w3.org/2001/04/xmlenc#">\n'
            '  <EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc" />\n  <CipherData><CipherValue>'
            + base64.b64encode(hashlib.sha512(e["finess"].encode()).digest() * 6).decode() + "</CipherValue></CipherData>\n</EncryptedData>\n", encoding="utf-8")
        dz.add(f"{hc}.xml", AD, "rapport PingCastle chiffré")
        stream = b"".join(hashlib.sha512(b"oradad %s %d" % (e["finess"].encode(), i)).digest() for i in range(64))
        header = b"MLA" + (1).to_bytes(4, "little") + bytes([0x03, 0x01]) + stream[:32] + (1).to_bytes(8, "little") + stream[32:80] + stream[80:88]
        Path(dz.path(f"oradad-{e['domain']}.mla")).write_bytes(header + stream[88:88 + 4100 - len(header)])
        dz.add(f"oradad-{e['domain']}.mla", AD, "archive ORADAD chiffrée pour l'ANSSI")
        dz.expect("D1.AD.AUDIT", REVIEW, "rapport PingCastle chiffré et archive ORADAD : contenu illisible sans la clé, à vérifier")
        dz.expect("D1.AD.LEVEL", REVIEW, "niveau illisible dans des rapports chiffrés")
    elif case == "consultancy_pdf":
        dz.html("rapport-audit-ad.pdf", audit_report_html(e, seller, (2024, 9, 23), 3), "chromium", AD, "rapport d'audit AD en prose (PDF)")
        dz.expect("D1.AD.AUDIT", MET, "rapport d'audit du prestataire daté du 23/09/2024, domaine nommé")
        dz.expect("D1.AD.LEVEL", REVIEW, "niveau 3 déclaré dans un rapport en prose, sans rapport PingCastle : à confirmer")
    elif case == "invoice_only":
        d, t = make_invoice(500 + dz.n, 0, seller, (2024, 7, 8), corpus.AD_AUDIT_ITEMS)
        dz.html(f"facture-audit-ad-{t['number'].replace('/', '-')}.pdf", corpus.html_invoice(d, 0), "chromium", AD, "facture d'un audit AD déclarée comme audit")
        dz.expect("D1.AD.AUDIT", NOT_MET, "seule une facture d'audit est fournie : pas de rapport d'audit")
        dz.expect("D1.AD.LEVEL", NOT_MET, "aucun rapport d'audit : niveau non démontré")
        # The establishment also claims it: it counts among the expenses.
        dz.files[-1]["objectives"] = AD + ["D1.FIN"]
        dz.invoices.append(t)
    dz.cases["D1.AD"] = case


EXP = ["D1.EXP.AUDIT", "D1.EXP.REMED"]


def exp_case(case, dz):
    e = dz.e
    pub, pub2 = e["net"], e["net6"]
    web = [(443, "https"), (80, "http")]
    # What a vulnerability scan of a tidy front finds: nothing above medium.
    clean_vulns = [(pub, 443, 2, 5.3, "SSL Medium Strength Cipher Suites Supported (SWEET32)"), (pub, 80, 1, 2.6, "HTTP TRACE / TRACK Methods Allowed")]

    def nmap(name, date, hosts, finished=True):
        Path(dz.path(name)).write_text(nmap_xml(e, date, hosts, finished), encoding="utf-8")
        dz.add(name, EXP, "scan nmap")

    def nessus(name, date, items):
        Path(dz.path(name)).write_text(nessus_xml(e, date, items), encoding="utf-8")
        dz.add(name, EXP, "scan Nessus")

    if case == "before_after":
        nmap("nmap-2024-05-06.xml", (2024, 5, 6), [(pub, web + [(3389, "ms-wbt-server")]), (pub2, [(443, "https"), (445, "microsoft-ds")])])
        nmap("nmap-2024-10-21.xml", (2024, 10, 21), [(pub, web), (pub2, [(443, "https")])])
        nessus("nessus-2024-10-22.nessus", (2024, 10, 22), clean_vulns)
        dz.expect("D1.EXP.AUDIT", MET, "scans nmap et Nessus des adresses publiques, terminés, dans la période")
        dz.expect("D1.EXP.REMED", MET, "RDP (3389) et SMB (445) fermés au scan d'octobre 2024, aucune vulnérabilité critique")
    elif case == "single_clean":
        nmap("scan-exposition.xml", (2024, 6, 17), [(pub, web), (pub2, [(443, "https"), (22, "ssh")])])
        nessus("scan-vulnerabilites.nessus", (2024, 6, 18), clean_vulns)
        dz.expect("D1.EXP.AUDIT", MET, "scans nmap et Nessus des adresses publiques, terminés, dans la période")
        dz.expect("D1.EXP.REMED", MET, "aucun service à risque exposé, aucune vulnérabilité critique")
    elif case == "nmap_only":
        # Ports, but no vulnerability scan: whether a critical flaw is left is not known.
        nmap("scan-exposition.xml", (2024, 6, 17), [(pub, web), (pub2, [(443, "https"), (22, "ssh")])])
        dz.expect("D1.EXP.AUDIT", MET, "scan nmap des adresses publiques, terminé, dans la période")
        dz.expect("D1.EXP.REMED", REVIEW, "aucun service à risque ouvert, mais pas de scan de vulnérabilités : l'absence de faille critique reste à établir")
    elif case == "rdp_left":
        nmap("nmap-2024-05-06.xml", (2024, 5, 6), [(pub, web + [(3389, "ms-wbt-server")])])
        nmap("nmap-2024-10-21.xml", (2024, 10, 21), [(pub, web + [(3389, "ms-wbt-server")])])
        dz.expect("D1.EXP.AUDIT", MET, "scans nmap des adresses publiques, dans la période")
        dz.expect("D1.EXP.REMED", NOT_MET, f"RDP (3389) toujours ouvert sur {pub} au dernier scan")
    elif case == "critical_vuln":
        nmap("nmap-2024-09-09.xml", (2024, 9, 9), [(pub, web)])
        nessus("nessus-externe.nessus", (2024, 9, 10), [(pub, 443, 4, 9.8, "Fortinet FortiOS SSL-VPN heap overflow"), (pub, 443, 2, 5.3, "SSL Medium Strength Cipher Suites")])
        dz.expect("D1.EXP.AUDIT", MET, "scans nmap et Nessus des adresses publiques, dans la période")
        dz.expect("D1.EXP.REMED", NOT_MET, "vulnérabilité critique (CVSS 9,8) non corrigée sur l'adresse publique")
    elif case == "vuln_fixed":
        nmap("nmap-2024-09-09.xml", (2024, 9, 9), [(pub, web)])
        nessus("nessus-2024-06-03.nessus", (2024, 6, 3), [(pub, 443, 4, 9.8, "Fortinet FortiOS SSL-VPN heap overflow")])
        nessus("nessus-2024-09-10.nessus", (2024, 9, 10), [(pub, 443, 1, 3.7, "SSH Weak Key Exchange Algorithms Enabled")])
        dz.expect("D1.EXP.AUDIT", MET, "scans des adresses publiques, dans la période")
        dz.expect("D1.EXP.REMED", MET, "la vulnérabilité critique de juin est corrigée au scan de septembre")
    elif case == "private_only":
        nmap("scan-reseau-interne.xml", (2024, 6, 11), [("10.10.0.10", [(389, "ldap"), (445, "microsoft-ds")]), ("10.10.0.20", [(445, "microsoft-ds"), (3389, "ms-wbt-server")])])
        dz.expect("D1.EXP.AUDIT", NOT_MET, "le scan ne porte que sur des adresses privées : l'exposition sur internet n'est pas auditée")
        dz.expect("D1.EXP.REMED", NOT_MET, "aucun scan d'adresse publique : l'absence d'exposition n'est pas démontrée")
    elif case == "with_diagram":
        nmap("nmap-exposition.xml", (2024, 7, 1), [(pub, web)])
        nessus("nessus-exposition.nessus", (2024, 7, 2), clean_vulns)
        dz.html("schema-reseau.pdf", corpus.diagram(f"Schéma d'architecture – {e['name']}"), "chromium", ["D1.EXP.AUDIT"], "schéma réseau")
        dz.expect("D1.EXP.AUDIT", MET, "scans nmap et Nessus de l'adresse publique, dans la période (le schéma ne prouve rien)")
        dz.expect("D1.EXP.REMED", MET, "aucun service à risque exposé, aucune vulnérabilité critique")
    dz.cases["D1.EXP"] = case


SCAN_PLAN = [(300, "pdf"), (300, "jpg"), (200, "png"), (300, "magick-jpg")]


def fin_case(case, dz, shared):
    e = dz.e
    n = dz.n
    layouts = [(n + k) % 4 for k in range(3)]
    sellers = [corpus.SELLERS[(n + k) % 4] for k in range(3)]
    dates = [(2024, 5 + n % 5, 3 + n % 20), (2024, 9 + n % 3, 10 + n % 15), (2025, 1 + n % 3, 6 + n % 20)]
    producers = ["chromium", "libreoffice", "chromium"]
    sent = []

    def invoice(k, date=None, items=None, producer=None, html_fn=None):
        d, t = make_invoice(100 * n + k, layouts[k], sellers[k], date or dates[k], items)
        name = f"facture-{t['number'].replace('/', '-')}.pdf"
        html = corpus.html_invoice(d, layouts[k])
        if html_fn:
            html = html_fn(html, d)
        dz.html(name, html, producer or producers[k], ["D1.FIN"], "facture")
        sent.append(t)
        return d, t, name

    def csv_report(invoices, name="bilan-financier.csv", encoding="utf-8"):
        Path(dz.path(name)).write_bytes(report_csv(e, invoices, encoding))
        dz.add(name, ["D1.FIN"], "bilan financier (CSV)")

    clean = "factures et bilan financier concordants, dans la période et sous le plafond"
    if case == "clean":
        for k in range(3):
            invoice(k)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", MET, clean)
    elif case == "gs_and_micro":
        invoice(0)
        d, t = make_invoice(100 * n + 7, 0, corpus.MICRO, dates[1])
        d.update(without_vat=True, tva=Decimal("0"), ttc=d["ht"])
        t.update(vat_id=None, total_tva=None, total_ttc=t["total_ht"])
        name = f"facture-{t['number']}.pdf"
        dz.prod.ps(corpus.ps_invoice(d), dz.path(name))
        dz.add(name, ["D1.FIN"], "facture d'un micro-entrepreneur sans TVA (Ghostscript)")
        sent.append(t)
        d, t = make_invoice(100 * n + 8, 0, corpus.SELLERS[(n + 2) % 4], dates[2])
        d["dotted"] = True
        name = f"facture-{t['number']}.pdf"
        dz.prod.ps(corpus.ps_invoice(d), dz.path(name))
        dz.add(name, ["D1.FIN"], "facture (Ghostscript)")
        sent.append(t)
        csv_report(dz.invoices + sent, encoding="cp1252")
        dz.expect("D1.FIN", MET, clean + " (dont une facture sans TVA d'un micro-entrepreneur)")
    elif case == "cover_letter_after":
        for k in range(2):
            invoice(k)
        csv_report(dz.invoices + sent)
        listed = [(t["number"], t["seller_name"], t["issue_date"], Decimal(t["total_ttc"])) for t in sent]
        dz.html("courrier-transmission.pdf", corpus.cover_letter("list", listed, sum(v for *_, v in listed)), "libreoffice", ["D1.FIN"], "courrier de transmission, envoyé après le bilan")
        dz.html("devis-audit.pdf", corpus.commercial("DEVIS", f"DE-2024-{n:03d}", sellers[0], corpus.AD_AUDIT_ITEMS, "15/04/2024", "<p>Validité de l'offre : 60 jours.</p>"),
                "chromium", ["D1.FIN"], "devis")
        dz.expect("D1.FIN", MET, clean + " ; le courrier et le devis ne prouvent rien et ne remplacent pas le bilan")
    elif case == "scanned":
        dpi, fmt = SCAN_PLAN[n % len(SCAN_PLAN)]
        d, t, name = invoice(0)
        dz.files.pop()
        ext = fmt.split("-")[-1]
        scan_name = f"scan-{name[:-4]}.{ext}"
        if fmt.startswith("magick"):
            dz.prod.then(magick_scan, dz.path(name), dpi, n, dz.path(scan_name))
        else:
            dz.prod.then(corpus.scan, dz.path(name), dpi, n, fmt, dz.path(scan_name))
        dz.prod.then(os.remove, dz.path(name))
        dz.add(scan_name, ["D1.FIN"], f"facture scannée ({dpi} dpi, {ext})")
        invoice(1)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", MET, clean + " (une facture scannée, lisible)")
    elif case == "stained_total":
        d, t, name = invoice(0, html_fn=stained)
        dz.files.pop()
        dz.prod.then(corpus.scan, dz.path(name), 300, n, "pdf", dz.path("scan-" + name))
        dz.prod.then(os.remove, dz.path(name))
        dz.add("scan-" + name, ["D1.FIN"], "facture scannée, total TTC taché")
        invoice(1)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", REVIEW, "le total TTC d'une facture scannée est illisible sous une tache : à vérifier sur l'original")
    elif case == "unreported_invoice":
        for k in range(3):
            invoice(k)
        csv_report(dz.invoices + sent[:2])
        dz.expect("D1.FIN", REVIEW, f"la facture {sent[2]['number']} n'est pas au bilan financier : fait-elle partie de la demande ?")
    elif case == "row_without_invoice":
        for k in range(2):
            invoice(k)
        _, ghost = make_invoice(100 * n + 9, 1, corpus.SELLERS[(n + 3) % 4], (2024, 12, 2))
        csv_report(dz.invoices + sent + [ghost])
        dz.expect("D1.FIN", REVIEW, f"le bilan liste la facture {ghost['number']} qui n'est pas fournie : pièce à demander")
    elif case == "before_window":
        invoice(0, date=(2023, 11, 20))
        invoice(1)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", NOT_MET, f"la facture {sent[0]['number']} est datée du 20/11/2023, avant l'ouverture du programme")
    elif case == "totals_wrong":
        def wrong(html):
            # The TTC printed is not HT + TVA (a typing error on a born-digital invoice).
            d = marker["d"]
            return html.replace(corpus.fr_amount(d["ttc"]) + " €</b>", corpus.fr_amount(d["ttc"] + 1000) + " €</b>")
        marker = {}
        d, t = make_invoice(100 * n, 0, sellers[0], dates[0])
        marker["d"] = d
        name = f"facture-{t['number'].replace('/', '-')}.pdf"
        dz.html(name, wrong(corpus.html_invoice(d, 0)), "chromium", ["D1.FIN"], "facture dont le TTC n'est pas HT + TVA")
        t = dict(t, total_ttc=f"{d['ttc'] + 1000:.2f}")
        sent.append(t)
        invoice(1)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", NOT_MET, f"facture {t['number']} : HT + TVA ne font pas le TTC imprimé (écart de 1 000 €)")
    elif case == "duplicate":
        # The same invoice (same file) sent by two establishments of a GHT's region.
        if "duplicate" not in shared:
            d, t = make_invoice(9000, 1, corpus.SELLERS[1], (2024, 10, 7))
            src = os.path.join(dz.prod.work, "facture-partagee.pdf")
            dz.prod.html(corpus.html_invoice(d, 1), src, "chromium")
            shared["duplicate"] = (src, t)
        src, t = shared["duplicate"]
        name = f"facture-{t['number'].replace('/', '-')}.pdf"
        dz.prod.then(shutil.copyfile, src, dz.path(name))
        dz.add(name, ["D1.FIN"], "facture aussi envoyée par un autre établissement")
        sent.append(t)
        invoice(0)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", REVIEW, f"la facture {t['number']} figure aussi dans le dossier d'un autre établissement : double financement à écarter")
    elif case == "ceiling":
        big = [("Audit de l'Active Directory et plan de remédiation (forfait)", 19000), ("Remédiation des comptes à privilèges (forfait)", 9000)]
        for k in range(3):
            invoice(k, items=big)
        csv_report(dz.invoices + sent)
        total = sum(Decimal(t["total_ttc"]) for t in dz.invoices + sent)
        dz.expect("D1.FIN", NOT_MET, f"dépenses de {corpus.fr_amount(total)} € TTC au-delà du plafond de la catégorie {e['category']}")
    elif case == "quote_and_order":
        dz.html("devis.pdf", corpus.commercial("DEVIS", f"DE-2024-{n:03d}", sellers[0], corpus.AD_AUDIT_ITEMS, "15/04/2024", "<p>Bon pour accord.</p>"),
                "libreoffice", ["D1.FIN"], "devis")
        dz.html("bon-de-commande.pdf", corpus.commercial("BON DE COMMANDE", f"BC-2024-{n:03d}", sellers[0], corpus.AD_AUDIT_ITEMS, "22/04/2024",
                                                         "<p>L'ordonnateur</p>"), "chromium", ["D1.FIN"], "bon de commande")
        dz.expect("D1.FIN", NOT_MET, "ni facture ni bilan : un devis et un bon de commande ne justifient pas une dépense")
    elif case == "pdf_report":
        for k in range(2):
            invoice(k)
        dz.html("bilan-financier.pdf", report_html(e, dz.invoices + sent), "chromium", ["D1.FIN"], "bilan financier (PDF)")
        dz.expect("D1.FIN", MET, clean + " (bilan en PDF)")
    elif case == "audit_invoices":
        d, t, name = invoice(0, items=corpus.AD_AUDIT_ITEMS)
        invoice(1, items=corpus.SCAN_ITEMS)
        csv_report(dz.invoices + sent)
        dz.expect("D1.FIN", MET, clean + " (factures d'audit AD et de scan : des factures)")
    elif case == "no_report":
        for k in range(2):
            invoice(k)
        listed = [(t["number"], t["seller_name"], t["issue_date"], Decimal(t["total_ttc"])) for t in sent]
        dz.html("courrier-transmission.pdf", corpus.cover_letter("formal", listed, sum(v for *_, v in listed)), "chromium", ["D1.FIN"], "courrier de transmission")
        dz.expect("D1.FIN", REVIEW, "pas de bilan financier (le courrier n'en est pas un) : dépenses non rapprochées")
    dz.invoices += sent
    dz.cases["D1.FIN"] = case


# --- the plan -----------------------------------------------------------------------------
PRE = ["signed", "unsigned", "signed", "scan_hand_signed", "signed", "absent", "signed", "modified_after_signing", "signed", "unknown_ca"]
ADS = ["clean", "before_after", "krbtgt_left", "clean", "min_pwd_len", "tampered", "before_after", "encrypted", "consultancy_pdf", "invoice_only"]
EXPS = ["before_after", "single_clean", "rdp_left", "critical_vuln", "nmap_only", "vuln_fixed", "private_only", "with_diagram"]
FINS = ["clean", "cover_letter_after", "scanned", "unreported_invoice", "gs_and_micro", "stained_total", "row_without_invoice", "duplicate",
        "before_window", "clean", "pdf_report", "audit_invoices", "scanned", "totals_wrong", "duplicate", "no_report", "quote_and_order", "scanned"]
CATEGORIES = ["public", "ght", "ebnl", "private"]
COUNT = 32


def plan():
    """Dossier n: its category and one case per objective, each list walked at its own
    pace so that cases meet in varied combinations; the ceiling case on a private one."""
    out = []
    for n in range(COUNT):
        category = CATEGORIES[n % 4]
        fin = FINS[n % len(FINS)]
        if n == 27:
            fin = "ceiling"
        out.append((n, category, PRE[n % len(PRE)], ADS[(n * 3) % len(ADS)], EXPS[(n * 5) % len(EXPS)], fin))
    return out


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out = Path(args[0])
    only = None
    if len(args) == 3 and args[1] == "--only":
        only = {int(x) for x in args[2].split(",")}
    for tool in ("chromium", "soffice", "ps2pdf", "pdftoppm", "convert"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (scripts/services.sh installs it)")
    out.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="caregate-dossiers-")
    prod = Producers(work)
    pki = Pki(out)
    shared = {}
    dossiers = []
    for n, category, pre, ad, exp, fin in plan():
        if only is not None and n not in only:
            continue
        e = establishment(n, category)
        corpus.BUYER = buyer(e)
        BUYER_SIRET[0] = e["siret"]
        slug = f"{n:02d}-{e['finess']}-{category}"
        folder = out / slug
        if folder.exists():
            shutil.rmtree(folder)
        for sub in ("", "avant", "apres"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        dz = Dossier(n, e, str(folder), prod)
        # Sent in this order: the AD and scan reports, the attestation, then the expenses.
        ad_case(ad, dz)
        exp_case(exp, dz)
        pre_case(pre, dz, pki)
        fin_case(fin, dz, shared)
        dossiers.append(dz)
    prod.finish()
    for dz in dossiers:
        for sub in ("avant", "apres"):
            p = Path(dz.folder) / sub
            if not any(p.iterdir()):
                p.rmdir()
        missing = [f["path"] for f in dz.files if not Path(dz.path(f["path"])).is_file()]
        assert not missing, f"{dz.folder}: not written: {missing}"
        e = dz.e
        expected = {
            "establishment": {"finess": e["finess"], "name": e["name"], "category": e["category"], "siret": e["siret"]},
            "campaign": CAMPAIGN,
            "files": dz.files,
            "cases": dz.cases,
            "expected": {o: dz.expected[o] for o in OBJECTIVES},
        }
        (Path(dz.folder) / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{len(dossiers)} dossiers, {sum(len(d.files) for d in dossiers)} files in {out}")


if __name__ == "__main__":
    main()

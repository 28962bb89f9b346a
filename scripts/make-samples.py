#!/usr/bin/env python3
"""Generates the samples/ corpus: French CaRE evidence of every format caregate reads,
plus hostile files. Everything here is invented (example.fr names, 192.0.2.0/24 and
other documentation addresses); nothing is copied from real evidence. Run from the
repository root: python3 scripts/make-samples.py (needs reportlab, factur-x, pyhanko,
openpyxl, odfpy, python-docx). EICAR is never written here: tests build it at run time.
"""
import base64, hashlib, io, os, zipfile, datetime
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from reportlab import rl_config

rl_config.invariant = 1  # reproducible PDFs (fixed ids and dates)
S = "samples"

def out(path, data):
    p = os.path.join(S, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))

def pdf(lines, title="", author="", encrypt=None, draw_only=False):
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt)
    c.setTitle(title); c.setAuthor(author); c.setProducer("caregate samples (reportlab)")
    if draw_only:
        c.setFillGray(0.4)
        for i in range(30):
            c.rect(60 + (i % 6) * 80, 700 - (i // 6) * 60, 60, 40, fill=1)
    else:
        y = 800
        for line in lines:
            if line == "<page>":
                c.showPage(); y = 800; continue
            c.setFont("Helvetica-Bold" if line.isupper() else "Helvetica", 11)
            c.drawString(60, y, line); y -= 18
    c.showPage(); c.save()
    return buf.getvalue()

SELLER = ("SECURINFO CONSEIL SAS", "73282932000074", "732829320", "FR44732829320")

def invoice_lines(kind, number, date, ht, tva, ttc, items):
    head = {"facture": f"FACTURE N° {number}", "avoir": f"AVOIR N° {number}",
            "devis": f"DEVIS N° {number}", "commande": f"BON DE COMMANDE N° {number}"}[kind]
    lines = [SELLER[0], "12 rue de la République, 69002 Lyon",
             "SIRET : 732 829 320 00074 TVA intracommunautaire : FR44 732829320", "", head,
             f"Date : {date}", "Client : Centre Hospitalier Exemple (FINESS 750000001)", ""]
    lines += [f"{label}   {amount} €" for label, amount in items]
    lines += ["", f"Total HT : {ht} €", f"TVA 20 % : {tva} €", f"Total TTC : {ttc} €"]
    if kind == "facture":
        lines += [f"Net à payer : {ttc} €", "Échéance : 30 jours - Règlement par virement"]
    if kind == "avoir":
        lines += ["Annule et remplace partiellement la facture FA-2024-0042"]
    if kind == "devis":
        lines += ["Validité de l'offre : 60 jours", "Bon pour accord (date, signature, cachet)"]
    if kind == "commande":
        lines += ["Commande passée au titre du programme CaRE, domaine 1"]
    return lines

# --- plain-text PDFs --------------------------------------------------------
out("factures/facture-FA-2024-0042.pdf", pdf(invoice_lines("facture", "FA-2024-0042", "12/06/2024", "8 400,00", "1 680,00", "10 080,00",
    [("Audit de sécurité Active Directory (ORADAD, PingCastle) - 4 jours", "4 800,00"), ("Audit d'exposition sur internet - 3 jours", "3 600,00")]),
    title="Facture FA-2024-0042", author=SELLER[0]))
out("factures/avoir-AV-2024-003.pdf", pdf(invoice_lines("avoir", "AV-2024-003", "02/09/2024", "-1 000,00", "-200,00", "-1 200,00",
    [("Remise commerciale sur l'audit Active Directory", "-1 000,00")]), title="Avoir AV-2024-003"))
out("factures/devis-D-2024-117.pdf", pdf(invoice_lines("devis", "D-2024-117", "15 avril 2024", "12 500,00", "2 500,00", "15 000,00",
    [("Audit Active Directory (PingCastle, ORADAD) - 5 jours", "6 000,00"), ("Durcissement des comptes à privilèges - 6,5 jours", "6 500,00")]), title="Devis D-2024-117"))
out("factures/bon-de-commande-BC-2024-55.pdf", pdf(invoice_lines("commande", "BC-2024-55", "20/04/2024", "12 500,00", "2 500,00", "15 000,00",
    [("Audit et durcissement Active Directory", "12 500,00")]), title="Bon de commande"))
out("divers/scan-facture.pdf", pdf([], title="Numérisation", draw_only=True))

# A long PDF report (40 pages), the kind auditors deliver, for PDF text speed too.
report = ["RAPPORT D'AUDIT ACTIVE DIRECTORY", "Centre Hospitalier Exemple - domaine ch-exemple.local", "Outils : PingCastle 3.2, ORADAD", ""]
findings = ["Le compte krbtgt n'a pas changé de mot de passe depuis 2019.", "Douze comptes à privilèges ont un mot de passe qui n'expire jamais.",
            "LAPS n'est pas déployé sur les postes de travail.", "Deux contrôleurs de domaine exécutent Windows Server 2012 R2.",
            "La délégation non contrainte est activée sur trois serveurs.", "Des GPO accordent des droits d'administration locale à tous les utilisateurs."]
for page in range(1, 41):
    report += [f"{page}. Constat et recommandation n° {page}"]
    for i in range(36):
        report += [f"{findings[(page + i) % len(findings)]} Recommandation {page}.{i} : corriger avant le {(page % 28) + 1}/09/2024."]
    if page < 40:
        report += ["<page>"]
out("annuaire/rapport-audit-ad.pdf", pdf(report, title="Rapport d'audit Active Directory", author="SECURINFO CONSEIL"))

# --- CII / Factur-X ---------------------------------------------------------
PROFILES = {"minimum": "urn:factur-x.eu:1p0:minimum", "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
            "en16931": "urn:cen.eu:en16931:2017"}

def cii(number, type_code, date, ht, tva, ttc, profile="en16931"):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{PROFILES[profile]}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>{number}</ram:ID>
    <ram:TypeCode>{type_code}</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">{date}</udt:DateTimeString></ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>
    <ram:ApplicableHeaderTradeAgreement>
      <ram:SellerTradeParty>
        <ram:GlobalID schemeID="0009">{SELLER[1]}</ram:GlobalID>
        <ram:Name>{SELLER[0]}</ram:Name>
        <ram:SpecifiedLegalOrganization><ram:ID schemeID="0002">{SELLER[2]}</ram:ID></ram:SpecifiedLegalOrganization>
        <ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{SELLER[3]}</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty><ram:Name>Centre Hospitalier Exemple</ram:Name></ram:BuyerTradeParty>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery/>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:TaxBasisTotalAmount>{ht}</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">{tva}</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>{ttc}</ram:GrandTotalAmount>
        <ram:DuePayableAmount>{ttc}</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
"""

out("factures/facture-FA-2024-0050.xml", cii("FA-2024-0050", "380", "20240715", "3000.00", "600.00", "3600.00"))
out("factures/avoir-AV-2024-004.xml", cii("AV-2024-004", "381", "20240801", "500.00", "100.00", "600.00"))

from facturx import generate_from_binary
for profile, (number, ht, tva, ttc) in {"minimum": ("FA-2024-0061", "1000.00", "200.00", "1200.00"),
                                        "basic": ("FA-2024-0062", "2450.50", "490.10", "2940.60"),
                                        "en16931": ("FA-2024-0063", "12500.00", "2500.00", "15000.00")}.items():
    visible = pdf(invoice_lines("facture", number, "18/07/2024", ht.replace(".", ","), tva.replace(".", ","), ttc.replace(".", ","),
        [("Prestation d'audit", ht.replace(".", ","))]), title=f"Facture {number}")
    xml = cii(number, "380", "20240718", ht, tva, ttc, profile).encode()
    out(f"factures/facturx-{profile}-{number}.pdf", generate_from_binary(visible, xml, flavor="factur-x", level=profile, check_xsd=False))

out("factures/facture-ubl-FA-2024-0051.xml", f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>FA-2024-0051</cbc:ID>
  <cbc:IssueDate>2024-07-22</cbc:IssueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PartyIdentification><cbc:ID schemeID="0009">44306184100047</cbc:ID></cac:PartyIdentification>
    <cac:PartyName><cbc:Name>Réseaux &amp; Défense SARL</cbc:Name></cac:PartyName>
    <cac:PartyTaxScheme><cbc:CompanyID>FR64443061841</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Réseaux &amp; Défense SARL</cbc:RegistrationName><cbc:CompanyID schemeID="0002">443061841</cbc:CompanyID></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">500.00</cbc:TaxAmount></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">2500.00</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">2500.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">3000.00</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="EUR">3000.00</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
</Invoice>
""")

# --- PingCastle -------------------------------------------------------------
RULES = [(15, "Anomalies", "PassTheCredential", "A-LAPS-Not-Installed", "LAPS n'est pas déployé"),
         (20, "StaleObjects", "ObjectConfig", "S-PwdNeverExpires", "12 comptes dont le mot de passe n'expire jamais"),
         (10, "PrivilegedAccounts", "AdminControl", "P-Delegated", "3 comptes administrateurs sans l'option « sensible »")]

def integrity(ids):
    return base64.b64encode(hashlib.sha256(",".join(sorted(i.replace("-", "").replace(".", "") for i in ids)).encode()).digest()).decode()

def pingcastle(rules, stated):
    rr = "\n".join(f"    <HealthcheckRiskRule><Points>{p}</Points><Category>{c}</Category><Model>{m}</Model><RiskId>{i}</RiskId><Rationale>{r}</Rationale></HealthcheckRiskRule>" for p, c, m, i, r in rules)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<HealthcheckData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <EngineVersion>3.2.0.1</EngineVersion>
  <GenerationDate>2024-06-03T09:41:12.0000000+02:00</GenerationDate>
  <DomainFQDN>ch-exemple.local</DomainFQDN>
  <NetBIOSName>CHEXEMPLE</NetBIOSName>
  <ForestFQDN>ch-exemple.local</ForestFQDN>
  <GlobalScore>35</GlobalScore>
  <StaleObjectsScore>20</StaleObjectsScore>
  <PrivilegiedGroupScore>35</PrivilegiedGroupScore>
  <TrustScore>0</TrustScore>
  <AnomalyScore>15</AnomalyScore>
  <MaturityLevel>3</MaturityLevel>
  <RiskRules>
{rr}
  </RiskRules>
  <IntegrityRules>{stated}</IntegrityRules>
</HealthcheckData>
"""
ids = [r[3] for r in RULES]
out("annuaire/ad_hc_ch-exemple.local.xml", pingcastle(RULES, integrity(ids)))
# The same report with one rule removed by hand: IntegrityRules no longer matches.
out("annuaire/ad_hc_ch-retouche.local.xml", pingcastle(RULES[:2], integrity(ids)))
out("annuaire/ad_hc_ch-chiffre.local.xml", """<?xml version="1.0" encoding="utf-8"?>
<EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Element" xmlns="http://www.w3.org/2001/04/xmlenc#">
  <EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc" />
  <CipherData><CipherValue>""" + base64.b64encode(hashlib.sha512(b"caregate").digest() * 4).decode() + """</CipherValue></CipherData>
</EncryptedData>
""")
# An ORADAD archive as MLA 1.x writes it (ANSSI-FR/MLA FORMAT.md, mla-1.4.0): "MLA", format
# version 1 (u32 LE), layers ENCRYPT|COMPRESS, the encryption config present, an ephemeral
# X25519 key, one recipient (ANSSI's key: wrapped key and tag), the nonce, then the
# encrypted blocks (here a single short one ending with its tag). Key bytes are stand-ins.
def oradad_mla():
    stream = b"".join(hashlib.sha512(b"oradad %d" % i).digest() for i in range(64))
    header = b"MLA" + (1).to_bytes(4, "little") + bytes([0x03, 0x01]) + stream[:32] + (1).to_bytes(8, "little") + stream[32:80] + stream[80:88]
    return header + stream[88:88 + 4100 - len(header)]
out("annuaire/oradad-ch-exemple.mla", oradad_mla())

# --- nmap after remediation -------------------------------------------------
out("exposition/nmap-2024-09-16.xml", """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sV -oX nmap-2024-09-16.xml 192.0.2.0/28" start="1726477200" startstr="Mon Sep 16 11:00:00 2024" version="7.94" xmloutputversion="1.05">
<host starttime="1726477205" endtime="1726477380"><status state="up" reason="echo-reply"/>
<address addr="192.0.2.10" addrtype="ipv4"/><hostnames><hostname name="vpn.ch-exemple.fr" type="PTR"/></hostnames>
<ports>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack"/><service name="https" product="nginx" version="1.26.2"/></port>
<port protocol="tcp" portid="3389"><state state="filtered" reason="no-response"/><service name="ms-wbt-server"/></port>
</ports></host>
<host><status state="down" reason="no-response"/><address addr="192.0.2.11" addrtype="ipv4"/></host>
<runstats><finished time="1726477400" timestr="Mon Sep 16 11:03:20 2024" elapsed="200.00" summary="Nmap done" exit="success"/><hosts up="1" down="15" total="16"/></runstats>
</nmaprun>
""")

# --- Nessus and OpenVAS -----------------------------------------------------
out("vulnerabilites/ch-exemple.nessus", """<?xml version="1.0" ?>
<NessusClientData_v2>
<Report name="CH Exemple - externe">
<ReportHost name="192.0.2.10"><HostProperties>
<tag name="HOST_START">Mon Sep 16 14:00:00 2024</tag><tag name="HOST_END">Mon Sep 16 14:42:10 2024</tag><tag name="host-ip">192.0.2.10</tag>
</HostProperties>
<ReportItem port="443" svc_name="www" protocol="tcp" severity="4" pluginID="187201" pluginName="Fortinet FortiOS SSL-VPN heap overflow">
<risk_factor>Critical</risk_factor><cve>CVE-2023-27997</cve><cvss3_base_score>9.8</cvss3_base_score></ReportItem>
<ReportItem port="443" svc_name="www" protocol="tcp" severity="2" pluginID="42873" pluginName="SSL Medium Strength Cipher Suites Supported (SWEET32)">
<risk_factor>Medium</risk_factor><cve>CVE-2016-2183</cve><cvss3_base_score>7.5</cvss3_base_score></ReportItem>
<ReportItem port="0" svc_name="general" protocol="tcp" severity="0" pluginID="19506" pluginName="Nessus Scan Information"><risk_factor>None</risk_factor></ReportItem>
</ReportHost>
<ReportHost name="192.0.2.12"><HostProperties><tag name="HOST_START">Mon Sep 16 14:00:05 2024</tag><tag name="HOST_END">Mon Sep 16 14:20:00 2024</tag></HostProperties>
<ReportItem port="22" svc_name="ssh" protocol="tcp" severity="1" pluginID="153953" pluginName="SSH Weak Key Exchange Algorithms Enabled"><risk_factor>Low</risk_factor><cvss3_base_score>3.7</cvss3_base_score></ReportItem>
</ReportHost>
</Report>
</NessusClientData_v2>
""")
out("vulnerabilites/openvas-ch-exemple.xml", """<?xml version="1.0" encoding="UTF-8"?>
<report id="5f3e0c1a-0000-4000-8000-000000000001" format_id="a994b278-1f62-11e1-96ac-406186ea4fc5" extension="xml" content_type="text/xml">
<report id="5f3e0c1a-0000-4000-8000-000000000001">
<scan_start>2024-09-17T08:00:00Z</scan_start>
<results start="1" max="3">
<result id="r1"><name>OpenSSH Multiple Vulnerabilities</name><host>192.0.2.12<asset asset_id="a1"/></host><port>22/tcp</port>
<nvt oid="1.3.6.1.4.1.25623.1.0.170000"><name>OpenSSH Multiple Vulnerabilities</name><cvss_base>8.1</cvss_base><refs><ref type="cve" id="CVE-2024-6387"/></refs></nvt>
<threat>High</threat><severity>8.1</severity></result>
<result id="r2"><name>TLS 1.0 deprecated protocol</name><host>192.0.2.10</host><port>443/tcp</port>
<nvt oid="1.3.6.1.4.1.25623.1.0.117274"><name>TLS 1.0 deprecated protocol</name><cvss_base>4.3</cvss_base><refs/></nvt>
<threat>Medium</threat><severity>4.3</severity></result>
<result id="r3"><name>ICMP Timestamp Reply</name><host>192.0.2.10</host><port>general/icmp</port>
<nvt oid="1.3.6.1.4.1.25623.1.0.103190"><name>ICMP Timestamp Reply</name><cvss_base>2.1</cvss_base><refs><ref type="cve" id="CVE-1999-0524"/></refs></nvt>
<threat>Low</threat><severity>2.1</severity></result>
</results>
<scan_end>2024-09-17T09:12:00Z</scan_end>
</report>
</report>
""")

# --- spreadsheets -----------------------------------------------------------
ROWS = [("FA-2024-0042", datetime.date(2024, 6, 12), "SECURINFO CONSEIL SAS", "73282932000074", 8400.00, 1680.00, 10080.00),
        ("2024-118", datetime.date(2024, 7, 3), "Réseaux & Défense SARL", "44306184100047", 2500.00, 500.00, 3000.00),
        ("FA-2024-0063", datetime.date(2024, 7, 18), "SECURINFO CONSEIL SAS", "73282932000074", 12500.00, 2500.00, 15000.00)]
HEAD = ["N° facture", "Date", "Fournisseur", "SIRET", "Montant HT", "TVA", "Montant TTC"]
import openpyxl
wb = openpyxl.Workbook(); ws = wb.active; ws.title = "Dépenses CaRE D1"
ws.append(["État récapitulatif des dépenses - CaRE domaine 1 - CH Exemple"]); ws.append([])
ws.append(HEAD)
for r in ROWS: ws.append(list(r))
ws.append(["Total", None, None, None, 23400.00, 4680.00, 28080.00])
wb.properties.creator = "CH Exemple"; wb.properties.created = datetime.datetime(2024, 9, 30, 10, 0, 0); wb.properties.modified = wb.properties.created
b = io.BytesIO(); wb.save(b); out("finances/etat-recapitulatif.xlsx", b.getvalue())

from odf.opendocument import OpenDocumentSpreadsheet, OpenDocumentText
from odf.table import Table, TableRow, TableCell
from odf.text import P, H
doc = OpenDocumentSpreadsheet(); t = Table(name="Dépenses")
def row(values):
    tr = TableRow()
    for v in values:
        if isinstance(v, float):
            c = TableCell(valuetype="float", value=v); c.addElement(P(text=f"{v:.2f}"))
        elif isinstance(v, datetime.date):
            c = TableCell(valuetype="date", datevalue=v.isoformat()); c.addElement(P(text=v.strftime("%d/%m/%Y")))
        else:
            c = TableCell(valuetype="string"); c.addElement(P(text=v or ""))
        tr.addElement(c)
    t.addElement(tr)
row(HEAD); [row(list(r)) for r in ROWS]
doc.spreadsheet.addElement(t)
b = io.BytesIO(); doc.write(b); out("finances/etat-recapitulatif.ods", b.getvalue())

# --- office text ------------------------------------------------------------
import docx
d = docx.Document()
d.add_heading("Attestation de réalisation", 0)
d.add_paragraph("Je soussigné, Jean Exemple, directeur du Centre Hospitalier Exemple (FINESS 750000001), "
                "atteste que l'audit de l'Active Directory et le durcissement des comptes à privilèges ont été réalisés "
                "entre le 3 juin 2024 et le 16 septembre 2024.")
d.add_paragraph("Fait à Lyon, le 30 septembre 2024, pour servir et valoir ce que de droit.")
d.core_properties.created = datetime.datetime(2024, 9, 30); d.core_properties.modified = datetime.datetime(2024, 9, 30)
b = io.BytesIO(); d.save(b); out("divers/attestation-realisation.docx", b.getvalue())

doc = OpenDocumentText()
doc.text.addElement(H(outlinelevel=1, text="Rapport d'exposition sur internet"))
doc.text.addElement(P(text="Le scan nmap du 16 septembre 2024 ne montre plus que le port 443 ouvert ; "
                           "les ports ouverts RDP (3389) relevés en mai ont été fermés. Surface d'exposition réduite."))
b = io.BytesIO(); doc.write(b); out("exposition/rapport-exposition.odt", b.getvalue())

# --- an image (no OCR: goes to review) and an archive of evidence ------------
import struct, zlib
def png(w, h):
    raw = b"".join(b"\x00" + bytes([(x * 7 + y * 3) % 256 for x in range(w)]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
out("divers/photo-attestation.png", png(64, 48))

b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    for name, path in [("factures/facture-FA-2024-0050.xml", "factures/facture-FA-2024-0050.xml"),
                       ("annuaire/ad_hc_ch-exemple.local.xml", "annuaire/ad_hc_ch-exemple.local.xml")]:
        zi = zipfile.ZipInfo(name, date_time=(2024, 9, 30, 10, 0, 0)); zi.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(zi, open(os.path.join(S, path), "rb").read())
out("divers/pieces-justificatives.zip", b.getvalue())

# --- signed attestation (PAdES, self-signed test certificate) ----------------
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jean Exemple (test)"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CH Exemple")])
now = datetime.datetime(2024, 9, 1, tzinfo=datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
import tempfile
tmp = tempfile.mkdtemp()
open(f"{tmp}/k.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(f"{tmp}/c.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
from pyhanko.sign import signers
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
unsigned = pdf(["ATTESTATION DE PRÉREQUIS CARE", "", "Je soussigné, Jean Exemple, directeur du Centre Hospitalier Exemple,",
                "atteste que l'établissement remplit les prérequis du domaine 1 du programme CaRE.",
                "", "Fait à Lyon, le 30 septembre 2024"], title="Attestation signée")
signer = signers.SimpleSigner.load(f"{tmp}/k.pem", f"{tmp}/c.pem")
signed = io.BytesIO()
signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(unsigned)), signers.PdfSignatureMetadata(field_name="Signature1", name="Jean Exemple"), signer=signer, output=signed)
out("divers/attestation-signee.pdf", signed.getvalue())

# --- hostile files ----------------------------------------------------------
from reportlab.lib.pdfencrypt import StandardEncryption
out("hostile/facture-chiffree.pdf", pdf(invoice_lines("facture", "FA-2024-0099", "01/10/2024", "100,00", "20,00", "120,00", [("x", "100,00")]),
    encrypt=StandardEncryption("motdepasse", canPrint=0)))
whole = open(os.path.join(S, "factures/facture-FA-2024-0042.pdf"), "rb").read()
out("hostile/facture-tronquee.pdf", whole[: len(whole) // 3])
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    zi = zipfile.ZipInfo("zeros.bin", date_time=(2024, 1, 1, 0, 0, 0)); zi.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(zi, b"\x00" * (64 * 1024 * 1024))
out("hostile/bombe.zip", b.getvalue())
out("hostile/entites.xml", '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
    "".join(f' <!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">\n' for i in range(1, 10)) + "]>\n<lolz>&lol9;</lolz>\n")
out("hostile/profond.xml", '<?xml version="1.0"?>\n' + "<a>" * 5000 + "</a>" * 5000)
def giant_sheet():
    """An XLSX whose sheet declares A1:B2 but holds a second cell at XFD1048576, the last
    cell a workbook can have: a reader that lays the sheet out as a grid allocates 17
    billion cells. A few hundred bytes; what it targets is memory, not the format."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} {rel}><sheets><sheet name="Bilan" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><dimension ref="A1:B2"/><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>Montant HT</t></is></c></row>'
            '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>',
    }
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), text)
    return b.getvalue()

out("hostile/tableau-geant.xlsx", giant_sheet())
out("hostile/tableau-deguise.pdf", open(os.path.join(S, "finances/bilan-financier.csv"), "rb").read())

def raw_pdf(objects, root=1):
    body, offsets = b"%PDF-1.7\n", []
    for i, o in enumerate(objects, 1):
        offsets.append(len(body)); body += f"{i} 0 obj\n{o}\nendobj\n".encode()
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode() + b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body
text = b"BT /F1 12 Tf 60 780 Td (FACTURE N\\260 FA-2024-0100 - Total TTC : 120,00 EUR) Tj ET"
out("hostile/facture-javascript.pdf", raw_pdf([
    "<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 6 0 R >> >> >>",
    f"<< /Length {len(text)} >>\nstream\n{text.decode('latin-1')}\nendstream",
    "<< /Type /Action /S /JavaScript /JS (app.alert\\('caregate test'\\);) >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]))
print("samples written")

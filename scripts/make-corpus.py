#!/usr/bin/env python3
"""Writes a corpus of French CaRE evidence through real producers, and its truth file.

    scripts/make-corpus.py OUT_DIR

Our samples/ come from one producer (reportlab); real evidence does not. Here the same
kinds of documents go through the producers an establishment's suppliers use, all from
Debian: Chromium (`--headless --print-to-pdf`, HTML with CSS layouts), LibreOffice
(HTML -> ODT -> PDF through Writer's own layout and PDF export) and Ghostscript
(`ps2pdf` on hand-written PostScript); then each invoice is scanned as a copier or a
phone would (poppler renders the page at 300 or 200 dpi, Pillow turns it slightly, adds
noise and JPEG compression) and wrapped as PDF, PNG or JPEG; and four are photographed
(`photos/`: perspective, shadow, grey paper, blur, phone JPEG at 150 to 200 dpi).

Since issue #23: 38 more invoice layouts (`wide_plan()`), templates modelled on common
invoicing software printed by Chromium, wkhtmltopdf and LibreOffice Writer, spreadsheet
invoices exported by LibreOffice Calc, invoices drawn by PostScript (Ghostscript) and
reportlab, and groff's -ms/tbl: several VAT rates (20, 10, 5.5 %), deposits (acompte),
credit notes (negative or labelled), art. 293 B invoices, two-page invoices (totals on
page 2), the seller left, right or only in the footer, label/value tables, due date and
service period beside the issue date, amounts as `1 234,56 €`, `1.234,56 EUR`, `1234.56`,
and the hospital's own SIRET and FINESS in the buyer's block (never the seller's).

The first four invoice layouts, with different wordings ("Facture n°", "N° de facture :", "Date de
facture", "du 12 juin 2024", "Net à payer", "Total toutes taxes comprises", amounts in
cells apart from their labels, the seller only in the legal mentions, the buyer's block
first), an attestation and an AD audit report. Beside the proofs, what establishments
send with them and what proves nothing (issue #24): cover letters (a formal letter, one
listing the invoices with their amounts, a short message), quotes, purchase orders, a
contract, a slide deck, network diagrams (a PDF and a PNG of boxes and addresses), and
invoices whose every line is about an AD audit or an exposure scan. Everything is
invented: names, example addresses, identifiers made with valid check keys.

OUT_DIR/truth.json says, per file, what it really says, in the shape of
../shared/real-samples/truth.json (kind, number, issue_date, seller_name, seller_siren,
seller_siret, vat_id, total_ht, total_tva, total_ttc, currency). Deterministic: the same
script writes the same documents (the scans' noise is seeded).
Needs: chromium, soffice (libreoffice-writer-nogui, libreoffice-calc-nogui), ps2pdf
(ghostscript), wkhtmltopdf, groff, pdftoppm (poppler-utils), Pillow and reportlab (PyPI)
-- scripts/services.sh installs them. About 2.5 minutes on 2 cores.
"""
import json, os, random, shutil, subprocess, sys, tempfile
from decimal import Decimal

OUT = sys.argv[1] if len(sys.argv) > 1 else "corpus"
MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]


def luhn_complete(digits):
    """The digit that makes `digits` + it pass the Luhn check (SIREN, SIRET)."""
    for d in "0123456789":
        s = digits + d
        total = sum(int(c) if i % 2 == 0 else sum(divmod(int(c) * 2, 10)) for i, c in enumerate(reversed(s)))
        if total % 10 == 0:
            return s


def company(seed, name, city):
    siren = luhn_complete(f"{seed:08d}")
    siret = luhn_complete(siren + "0001")
    vat = f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    return {"name": name, "siren": siren, "siret": siret, "vat": vat, "city": city}


SELLERS = [
    company(73282932, "SECURINFO CONSEIL SAS", "69002 Lyon"),
    company(41235876, "AUDIT RÉSEAUX OUEST SARL", "44000 Nantes"),
    company(53084813, "CYBERVIGIE SA", "31000 Toulouse"),
    company(80512347, "ANNUAIRE EXPERTISE SAS", "67000 Strasbourg"),
]
# An individual entrepreneur ("EI", mandatory beside the name since 2022), VAT-exempt.
MICRO = company(90123456, "CAMILLE ROUX CONSEIL EI", "35000 Rennes")
BUYER = ("Centre Hospitalier de Valmont", "12 avenue des Tilleuls", "76540 Valmont", "FINESS 760000001")


def fr_amount(v, sep="\u00a0"):
    whole, cents = f"{v:.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sep.join(groups) + "," + cents


def spaced(s, parts):
    out, at = [], 0
    for n in parts:
        out.append(s[at:at + n])
        at += n
    return " ".join(out)


def invoice(i, layout, seller):
    rnd = random.Random(1000 + i)
    items = [("Audit de l'Active Directory (PingCastle, ORADAD)", rnd.randint(30, 90) * 100),
             ("Scan d'exposition sur internet et rapport", rnd.randint(8, 40) * 100),
             ("Restitution et plan d'action", rnd.randint(5, 20) * 50)]
    ht = Decimal(sum(p for _, p in items))
    tva = (ht * Decimal("0.20")).quantize(Decimal("0.01"))
    ttc = ht + tva
    day, month = rnd.randint(1, 28), rnd.randint(1, 12)
    year = 2024 + (i % 2)
    number = [f"FA-{year}-{rnd.randint(100, 999)}", f"F{year}{rnd.randint(1000, 9999)}", f"{year}/{rnd.randint(10, 99)}/{rnd.randint(100, 999)}", f"VT-{year}-{rnd.randint(1000, 9999)}"][layout]
    truth = {"kind": "invoice", "number": number, "issue_date": f"{year}-{month:02d}-{day:02d}", "seller_name": seller["name"],
             "seller_siren": seller["siren"], "seller_siret": seller["siret"], "vat_id": seller["vat"],
             "total_ht": f"{ht:.2f}", "total_tva": f"{tva:.2f}", "total_ttc": f"{ttc:.2f}", "currency": "EUR"}
    doc = {"items": items, "ht": ht, "tva": tva, "ttc": ttc, "number": number, "day": day, "month": month, "year": year, "seller": seller}
    return doc, truth


CSS = """body{font-family:'DejaVu Sans',sans-serif;font-size:10pt;margin:0} table{border-collapse:collapse}
td,th{padding:3pt 6pt;vertical-align:top} .r{text-align:right} .b td,.b th{border:1px solid #444} .small{font-size:8pt;color:#333}"""


def html_invoice(d, layout):
    s, (bn, ba, bc, bf) = d["seller"], BUYER
    lines = "".join(f"<tr><td>{label}</td><td class=r>1</td><td class=r>{fr_amount(p)} €</td><td class=r>{fr_amount(p)} €</td></tr>" for label, p in d["items"])
    date_num = f"{d['day']:02d}/{d['month']:02d}/{d['year']}"
    date_words = f"{d['day']} {MOIS[d['month'] - 1]} {d['year']}"
    if layout == 0:  # classic: seller top left, buyer right, totals block bottom right
        body = f"""<table style="width:100%"><tr><td><b>{s['name']}</b><br>8 rue des Lilas<br>{s['city']}<br>SIRET : {spaced(s['siret'], [3, 3, 3, 5])}<br>
TVA intracommunautaire : {s['vat']}</td><td class=r><b>Client</b><br>{bn}<br>{ba}<br>{bc}<br>{bf}</td></tr></table>
<h2>FACTURE N° {d['number']}</h2><p>Date : {date_num}</p>
<table class=b style="width:100%"><tr><th>Désignation</th><th>Qté</th><th>P.U. HT</th><th>Montant HT</th></tr>{lines}</table>
<table class=b style="margin-left:auto;margin-top:12pt"><tr><td>Total HT</td><td class=r>{fr_amount(d['ht'])} €</td></tr>
<tr><td>TVA 20 %</td><td class=r>{fr_amount(d['tva'])} €</td></tr><tr><td><b>Total TTC</b></td><td class=r><b>{fr_amount(d['ttc'])} €</b></td></tr></table>
<p>Conditions : paiement à 30 jours par virement.</p>"""
    elif layout == 1:  # the buyer's block first, seller on the right, labels in words
        body = f"""<table style="width:100%"><tr><td style="width:50%"><b>Facturé à</b><br>{bn}<br>{ba}<br>{bc}</td>
<td><b>{s['name']}</b><br>3 place du Marché<br>{s['city']}<br>N° TVA : {spaced(s['vat'], [4, 3, 3, 3])}<br>SIRET {s['siret']}</td></tr></table>
<p style="margin-top:20pt"><b>Facture n° {d['number']}</b> du {date_words}</p>
<table class=b style="width:100%"><tr><th>Prestation</th><th>Quantité</th><th>Prix unitaire</th><th>Total</th></tr>{lines}</table>
<table style="margin-left:auto;margin-top:12pt"><tr><td>Montant HT</td><td class=r>{fr_amount(d['ht'], ' ')} EUR</td></tr>
<tr><td>Montant TVA (20 %)</td><td class=r>{fr_amount(d['tva'], ' ')} EUR</td></tr><tr><td><b>Net à payer</b></td><td class=r><b>{fr_amount(d['ttc'], ' ')} EUR</b></td></tr></table>"""
    elif layout == 2:  # a grid: each label in a cell, its value in the cell below
        body = f"""<h1 style="text-align:center">FACTURE</h1><table class=b style="width:100%"><tr><th>N° de facture :</th><th>Date de facture</th><th>Client</th></tr>
<tr><td>{d['number']}</td><td>{date_num}</td><td>{bn}, {bc}</td></tr></table><br>
<table class=b style="width:100%"><tr><th>Description</th><th>Qté</th><th>Prix HT</th><th>Total HT</th></tr>{lines}
<tr><td colspan=3>Total hors taxes</td><td class=r>{fr_amount(d['ht'])} €</td></tr><tr><td colspan=3>TVA au taux de 20 %</td><td class=r>{fr_amount(d['tva'])} €</td></tr>
<tr><td colspan=3><b>Total toutes taxes comprises</b></td><td class=r><b>{fr_amount(d['ttc'])} €</b></td></tr></table>
<p class=small style="margin-top:30pt">{s['name']} – 5 boulevard Gambetta, {s['city']} – SIRET : {spaced(s['siret'], [3, 3, 3, 5])} – N° TVA intracommunautaire : {s['vat']}</p>"""
    else:  # a trade name on top, the legal name only in the legal mentions at the foot
        trade = s["name"].split()[0].capitalize()
        body = f"""<div style="font-size:20pt;font-weight:bold">{trade}</div><div class=small>Sécurité des systèmes d'information</div>
<table style="width:100%;margin-top:16pt"><tr><td></td><td style="width:45%"><b>Adresse de facturation</b><br>{bn}<br>{ba}<br>{bc}</td></tr></table>
<p><b>Facture {d['number']}</b><br>Émise le {date_words}</p>
<table class=b style="width:100%"><tr><th>Libellé</th><th>Qté</th><th>PU</th><th>Montant</th></tr>{lines}</table>
<table style="margin-left:auto;margin-top:12pt"><tr><td>Sous-total HT</td><td class=r>{fr_amount(d['ht'])} €</td></tr><tr><td>TVA 20,0 %</td><td class=r>{fr_amount(d['tva'])} €</td></tr>
<tr><td><b>Total TTC</b></td><td class=r><b>{fr_amount(d['ttc'])} €</b></td></tr></table>
<p class=small style="margin-top:40pt">{s['name']} au capital de 10 000 € – {s['siren'][:3]} {s['siren'][3:6]} {s['siren'][6:]} R.C.S. {s['city'].split()[1].upper()} – SIRET {s['siret']} – TVA {s['vat']}</p>"""
    return f"<!doctype html><html lang=fr><head><meta charset=utf-8><style>{CSS}</style></head><body>{body}</body></html>"


def html_attestation(seller):
    return f"""<!doctype html><html lang=fr><head><meta charset=utf-8><style>{CSS}</style></head><body>
<h1>ATTESTATION DE RÉALISATION</h1><p>Je soussigné, Jean Martin, directeur de {seller['name']}, atteste que l'audit de l'annuaire
Active Directory du {BUYER[0]} ({BUYER[3]}) a été réalisé du 3 au 14 juin 2024 dans le cadre du programme CaRE, domaine 1.</p>
<p>Fait à {seller['city'].split()[1]}, le 20 juin 2024.</p><p>Signature et cachet :</p><p style="font-family:serif;font-style:italic;font-size:16pt">J. Martin</p></body></html>"""


def html_report(seller):
    return f"""<!doctype html><html lang=fr><head><meta charset=utf-8><style>{CSS}</style></head><body>
<h1>Rapport d'audit de sécurité Active Directory</h1><p>Domaine audité : ch-valmont.local</p><p>Date de l'audit : 11/06/2024</p>
<p>Auditeur : {seller['name']}</p><h2>Synthèse</h2><p>Niveau de maturité ANSSI atteint : niveau 3. Les points de contrôle PingCastle
et ORADAD ont été relevés ; 4 règles restent à corriger (délégations, comptes à privilèges, politique de mots de passe).</p>
<table class=b><tr><th>Règle</th><th>Niveau</th><th>Statut</th></tr><tr><td>P-Delegated</td><td>2</td><td>à corriger</td></tr>
<tr><td>A-Krbtgt</td><td>3</td><td>corrigé</td></tr></table></body></html>"""


def ps_invoice(d):
    """A simple one-column invoice in PostScript (Helvetica re-encoded in Latin-1)."""
    s = d["seller"]
    lines = [(14, s["name"]), (10, "8 rue des Lilas, " + s["city"]), (10, f"SIRET : {s['siret']}  -  TVA : {s['vat']}"), (10, ""),
             (14, f"FACTURE N° {d['number']}"), (10, f"Date de facture : {d['day']:02d}/{d['month']:02d}/{d['year']}"),
             (10, f"Client : {BUYER[0]}, {BUYER[2]}"), (10, "")]
    lines += [(10, f"{label}      {fr_amount(p, ' ')} EUR") for label, p in d["items"]]
    if d.get("without_vat"):
        # A micro-entrepreneur's invoice: no VAT charged, one total, the legal mention.
        lines[2] = (10, f"SIRET : {s['siret']}")
        lines += [(10, ""), (11, f"Net à payer : {fr_amount(d['ttc'], ' ')} EUR"), (9, "TVA non applicable, art. 293 B du CGI")]
    else:
        # The abbreviations written with their dots on one of them ("Total H.T.", "T.V.A.").
        ht, tva, ttc = ("Total H.T.", "T.V.A.", "Total T.T.C.") if d.get("dotted") else ("Total HT", "TVA", "Total TTC")
        lines += [(10, ""), (11, f"{ht} : {fr_amount(d['ht'], ' ')} EUR"), (11, f"{tva} 20 % : {fr_amount(d['tva'], ' ')} EUR"), (11, f"{ttc} : {fr_amount(d['ttc'], ' ')} EUR")]

    def esc(t):
        return t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").replace("\u00a0", " ")

    out = ["%!PS-Adobe-3.0", "/reencode { findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall",
           "/Encoding ISOLatin1Encoding def currentdict end definefont pop } def", "/F /Helvetica reencode", "/y 790 def"]
    for size, text in lines:
        out.append(f"/F findfont {size} scalefont setfont 60 y moveto ({esc(text)}) show /y y {size + 8} sub def")
    out.append("showpage")
    return "\n".join(out).encode("latin-1")


def page(body, css=""):
    return f"<!doctype html><html lang=fr><head><meta charset=utf-8><style>{CSS}{css}</style></head><body>{body}</body></html>"


def audit_invoice(i, layout, seller, items):
    """An invoice whose lines all name what it pays for (an AD audit, an exposure scan):
    still an invoice, whatever its lines say."""
    d, t = invoice(i, layout, seller)
    ht = Decimal(sum(p for _, p in items))
    tva = (ht * Decimal("0.20")).quantize(Decimal("0.01"))
    d.update(items=items, ht=ht, tva=tva, ttc=ht + tva)
    t.update(total_ht=f"{ht:.2f}", total_tva=f"{tva:.2f}", total_ttc=f"{ht + tva:.2f}")
    return d, t


AD_AUDIT_ITEMS = [("Audit de sécurité de l'Active Directory : collecte PingCastle et ORADAD, analyse des contrôleurs de domaine", 6400),
                  ("Revue des comptes à privilèges, des délégations et des GPO ; rédaction du rapport d'audit", 3200),
                  ("Restitution du rapport d'audit Active Directory au RSSI", 900)]
SCAN_ITEMS = [("Scan d'exposition sur internet (nmap) : ports ouverts et services exposés", 2800),
              ("Scan de vulnérabilités (Nessus) des adresses publiques et rapport", 3500)]


def cover_letter(style, invoices, report_total):
    """What an establishment writes to send its proofs: prose around the invoices."""
    b = BUYER
    listed = "".join(f"<li>facture n° {n} de {s} du {'/'.join(reversed(dt.split('-')))}, d'un montant de {fr_amount(v)} € TTC ;</li>" for n, s, dt, v in invoices)
    if style == "formal":
        body = f"""<p><b>{b[0]}</b><br>Direction des systèmes d'information<br>{b[1]}<br>{b[2]}</p>
<p style="margin-left:55%">Agence régionale de santé Normandie<br>Pôle numérique en santé<br>Esplanade de l'Ourse<br>14000 Caen</p>
<p style="margin-left:55%">Valmont, le 2 septembre 2024</p><p><b>Objet :</b> Courrier de transmission – programme CaRE, domaine 1<br>
<b>Réf. :</b> dossier CaRE-D1-2024-0117</p><p>Madame, Monsieur,</p>
<p>Dans le cadre du programme CaRE (Cyber Accélération et Résilience des Établissements), j'ai l'honneur de vous transmettre les pièces
justificatives relatives au domaine 1 « Annuaires techniques et exposition sur internet » : le bilan financier des dépenses engagées,
les factures correspondantes, le rapport d'audit de l'Active Directory et les résultats des scans d'exposition.</p>
<p>Le montant total des dépenses présentées s'élève à {fr_amount(report_total)} € TTC, conformément au bilan financier joint. Les factures ont été
acquittées et les prestations réalisées entre juin et août 2024.</p>
<p>Je reste à votre disposition pour tout complément d'information et vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations
distinguées.</p><p style="margin-left:55%">Le directeur,<br>Paul Lemoine</p>
<p class=small>P.J. : bilan financier, {len(invoices)} factures, rapport d'audit, scans d'exposition</p>"""
    elif style == "list":
        body = f"""<p>{b[0]} – {b[3]}<br>{b[1]}, {b[2]}</p><h2>Lettre de transmission des pièces justificatives</h2>
<p>Madame la Directrice,</p><p>Nous vous prions de trouver ci-joint les pièces justifiant les dépenses engagées au titre du programme CaRE pour
le domaine 1, à savoir :</p><ul>{listed}<li>le bilan financier récapitulatif signé par l'ordonnateur.</li></ul>
<p>Ces dépenses, d'un montant total de {fr_amount(report_total)} € TTC, ont été imputées sur le budget d'investissement 2024. Nous vous remercions
de bien vouloir procéder à l'instruction de notre dossier.</p><p>Veuillez agréer, Madame la Directrice, nos salutations respectueuses.</p>
<p>Pour le directeur et par délégation,<br>la directrice des finances</p>"""
    else:
        body = f"""<p>Bonjour,</p><p>Veuillez trouver ci-joint les factures des prestations d'audit de l'Active Directory et de scan d'exposition
réalisées pour le {b[0]}, ainsi que le rapport d'audit. Le bilan financier suivra dans la journée.</p>
<p>Vous en souhaitant bonne réception, nous restons à votre disposition pour toute question.</p><p>Cordialement,</p>
<p>Service informatique – {b[0]}</p>"""
    return page(body)


def commercial(title, number, seller, items, when, extra):
    """A quote or a purchase order: an invoice's layout, not an invoice."""
    ht = Decimal(sum(p for _, p in items))
    tva = (ht * Decimal("0.20")).quantize(Decimal("0.01"))
    rows = "".join(f"<tr><td>{label}</td><td class=r>1</td><td class=r>{fr_amount(p)} €</td><td class=r>{fr_amount(p)} €</td></tr>" for label, p in items)
    return page(f"""<table style="width:100%"><tr><td><b>{seller['name']}</b><br>{seller['city']}<br>SIRET : {seller['siret']}</td>
<td class=r>{BUYER[0]}<br>{BUYER[1]}<br>{BUYER[2]}</td></tr></table><h2>{title} N° {number}</h2><p>Date : {when}</p>
<table class=b style="width:100%"><tr><th>Désignation</th><th>Qté</th><th>P.U. HT</th><th>Montant HT</th></tr>{rows}</table>
<table class=b style="margin-left:auto;margin-top:12pt"><tr><td>Total HT</td><td class=r>{fr_amount(ht)} €</td></tr>
<tr><td>TVA 20 %</td><td class=r>{fr_amount(tva)} €</td></tr><tr><td><b>Total TTC</b></td><td class=r><b>{fr_amount(ht + tva)} €</b></td></tr></table>{extra}""")


def contract(seller):
    arts = [("Objet", "Le présent contrat a pour objet la réalisation par le Prestataire d'un audit de sécurité de l'annuaire Active Directory du Client et d'un scan de son exposition sur internet."),
            ("Durée", "Le contrat prend effet à sa signature et prend fin à la remise du rapport d'audit, au plus tard le 31 décembre 2024."),
            ("Prix et modalités de paiement", "Le prix forfaitaire est fixé à 12 500,00 € HT. Il est payé à réception de la facture, par virement, dans un délai de 30 jours."),
            ("Confidentialité", "Le Prestataire s'engage à ne divulguer aucune information relative au système d'information du Client."),
            ("Résiliation", "En cas de manquement de l'une des parties à ses obligations, l'autre partie pourra résilier le contrat après mise en demeure restée sans effet.")]
    body = "".join(f"<h3>Article {n} – {t}</h3><p>{x}</p>" for n, (t, x) in enumerate(arts, 1))
    return page(f"""<h1 style="text-align:center">CONTRAT DE PRESTATION DE SERVICES</h1><p>Entre les soussignés :</p>
<p>{BUYER[0]}, {BUYER[1]}, {BUYER[2]}, représenté par son directeur, ci-après dénommé « le Client »,</p><p>et</p>
<p>{seller['name']}, SIRET {seller['siret']}, {seller['city']}, ci-après dénommée « le Prestataire »,</p><p>il a été convenu ce qui suit :</p>
{body}<p>Fait à Valmont, le 2 mai 2024, en deux exemplaires originaux.</p><table style="width:100%"><tr><td>Pour le Client</td><td>Pour le Prestataire</td></tr></table>""")


def slide_deck(seller):
    slides = [("Restitution de l'audit Active Directory", [BUYER[0], f"{seller['name']}", "Comité de pilotage – 14 juin 2024"]),
              ("Sommaire", ["Contexte et périmètre", "Démarche (PingCastle, ORADAD)", "Constats principaux", "Plan d'action"]),
              ("Constats principaux", ["Comptes à privilèges trop nombreux", "Délégations non contraintes", "Mot de passe krbtgt ancien"]),
              ("Plan d'action", ["Court terme : comptes à privilèges", "Moyen terme : niveaux d'administration", "Suivi trimestriel"]),
              ("Merci de votre attention", ["Questions ?"])]
    css = "@page{size:297mm 167mm;margin:0} .slide{height:167mm;padding:18mm 24mm;box-sizing:border-box;page-break-after:always} .slide h1{font-size:26pt} .slide li{font-size:18pt}"
    body = "".join(f"<div class=slide><h1>{t}</h1><ul>{''.join(f'<li>{x}</li>' for x in xs)}</ul></div>" for t, xs in slides)
    return page(body, css)


def diagram(title):
    """A network diagram: boxes with a name and an address, arrows, no sentence."""
    boxes = [(40, 20, "Internet"), (40, 110, "Pare-feu FW-01<br>203.0.113.1"), (10, 210, "DMZ – VLAN 20<br>Reverse proxy 203.0.113.10"),
             (300, 210, "Messagerie<br>203.0.113.25"), (10, 330, "LAN – VLAN 10<br>Switch cœur SW-01"),
             (300, 330, "Contrôleur de domaine DC01<br>10.10.0.10"), (300, 420, "DC02<br>10.10.0.11"), (10, 420, "Serveur de fichiers<br>10.10.0.20"),
             (10, 510, "Postes de travail<br>10.10.64.0/20"), (300, 510, "Accès VPN<br>10.10.200.0/24")]
    divs = "".join(f'<div style="position:absolute;left:{x}pt;top:{y + 40}pt;width:220pt;border:1.5pt solid #225;padding:6pt;text-align:center">{t}</div>' for x, y, t in boxes)
    head = f'<div style="font-size:16pt;font-weight:bold">{title}</div>' if title else ""
    return page(f'{head}<div style="position:relative">{divs}</div>')


def ps_letter():
    """A plain cover letter in PostScript, as a typewriter-like office tool prints it."""
    lines = [BUYER[0], BUYER[1] + ", " + BUYER[2], "", "Valmont, le 5 septembre 2024", "",
             "Objet : transmission des justificatifs CaRE (domaine 1)", "", "Madame, Monsieur,", "",
             "Je vous adresse ci-joint les factures et le bilan financier des dépenses", "engagées pour l'audit de notre Active Directory et le scan de notre",
             "exposition sur internet, ainsi que les rapports correspondants.", "",
             "Je vous prie de croire, Madame, Monsieur, à l'assurance de ma considération", "distinguée.", "", "Le directeur du système d'information"]
    out = ["%!PS-Adobe-3.0", "/reencode { findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall",
           "/Encoding ISOLatin1Encoding def currentdict end definefont pop } def", "/F /Times-Roman reencode", "/F findfont 11 scalefont setfont", "/y 780 def"]
    for text in lines:
        t = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        out.append(f"60 y moveto ({t}) show /y y 16 sub def")
    out.append("showpage")
    return "\n".join(out).encode("latin-1")


# ---------------------------------------------------------------------------------------
# Invoices as establishments' suppliers print them (issue #23 §2): many layouts from many
# programs, each varying what real invoices vary. One invoice is a `spec` (who sells, what
# kind of invoice, its lines and dates, how amounts are written); one layout is a producer
# and a set of knobs (where the seller's block stands, how the number and dates are
# labelled, how the totals are set out, the wording). Every invoice's buyer is the
# hospital, whose own SIRET, SIREN and FINESS its block carries: they are never the seller's.

HOSPITAL = company(26760042, "Centre Hospitalier de Valmont", "76540 Valmont")
HOSPITAL_FINESS = luhn_complete("76078001")


def seller_of(seed, name, street, city, nic):
    c = company(seed, name, city)
    c["siret"] = luhn_complete(c["siren"] + nic)
    c["street"] = street
    return c


WIDE_SELLERS = [
    seller_of(44218507, "NORMANDIE INFOGÉRANCE SAS", "14 quai de Paris", "76000 Rouen", "0002"),
    seller_of(51730866, "Bastion Numérique SARL", "2 rue Écuyère", "14000 Caen", "0001"),
    seller_of(82904511, "Audit & Conformité Hospitalière", "41 rue de la Roquette", "75011 Paris", "0003"),
    seller_of(39012784, "KERBEROS SÉCURITÉ SAS", "7 rue de Saint-Malo", "35000 Rennes", "0001"),
    seller_of(60277315, "Horizon Cyber Défense SA", "120 rue Nationale", "59000 Lille", "0005"),
    seller_of(75530249, "PIXEL RÉSEAUX EURL", "9 rue de Paris", "76600 Le Havre", "0001"),
    seller_of(48861132, "Sentinelle Informatique SAS", "33 cours de l'Intendance", "33000 Bordeaux", "0002"),
    seller_of(88120457, "Opale Systèmes SARL", "5 place d'Armes", "62200 Boulogne-sur-Mer", "0001"),
]
# Individual entrepreneurs, VAT-exempt (art. 293 B du CGI): no VAT id.
WIDE_MICROS = [seller_of(90255318, "Julien Morel Conseil EI", "18 rue Victor Hugo", "37000 Tours", "0001"),
               seller_of(91376642, "Sophie Lambert EI", "3 impasse des Acacias", "49000 Angers", "0001")]

# What suppliers bill a hospital for, with the rate the line bears.
CATALOGUE = [("Audit de l'annuaire Active Directory (PingCastle)", 20), ("Scan de vulnérabilités externe", 20),
             ("Accompagnement RSSI (jours)", 20), ("Licence pare-feu applicatif – 12 mois", 20), ("Sensibilisation du personnel (session)", 20),
             ("Supervision SOC – forfait mensuel", 20), ("Sauvegarde externalisée (To)", 20), ("Câblage réseau – locaux d'habitation du personnel", 10),
             ("Restauration des stagiaires (repas)", 10), ("Guides techniques imprimés (ouvrages)", Decimal("5.5")),
             ("Test d'intrusion interne", 20), ("Rapport et restitution au COPIL", 20)]
KINDS = ["standard", "rates", "deposit", "credit", "novat", "multipage", "standard", "rates", "credit_labelled", "standard"]


def q2(v):
    return Decimal(v).quantize(Decimal("0.01"))


def wide_amount(v, fmt, unit=True):
    """`1 234,56 €`, `1.234,56 EUR`, `1234.56` (the currency said once, in a title)."""
    neg = v < 0
    v = abs(v)
    if fmt == "plain":
        s = f"{v:.2f}"
    else:
        s = fr_amount(v, {"fr": "\u00a0", "frs": " ", "dot": "."}[fmt])
    s = ("-" if neg else "") + s
    if unit and fmt != "plain":
        s += " EUR" if fmt == "dot" else " €"
    return s


def wide_spec(n, kind, fmt, seller_index):
    rnd = random.Random(7000 + n)
    micro = kind == "novat"
    seller = WIDE_MICROS[n % 2] if micro else WIDE_SELLERS[seller_index % len(WIDE_SELLERS)]
    year = 2024 + n % 2
    month, day = rnd.randint(1, 12), rnd.randint(1, 28)
    import datetime
    issued = datetime.date(year, month, day)
    due = issued + datetime.timedelta(days=30)
    first = (issued.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    last = issued.replace(day=1) - datetime.timedelta(days=1)
    if kind == "rates":
        pool = [c for c in CATALOGUE if c[1] != 20]
        picks = [rnd.choice([c for c in CATALOGUE if c[1] == 20])] + pool[:1 + n % 3] + ([pool[-1]] if n % 2 else [])
    elif kind == "multipage":
        picks = [CATALOGUE[(n + k) % 7] for k in range(46)]
    else:
        picks = rnd.sample([c for c in CATALOGUE if c[1] == 20], 3)
    lines = []
    for k, (label, rate) in enumerate(picks):
        qty = rnd.randint(1, 4) if kind != "multipage" else 1
        unit = Decimal(rnd.randint(8, 90) * 25) if kind != "multipage" else Decimal(rnd.randint(4, 30) * 10)
        if kind == "multipage":
            label = f"{label} – site {k + 1:02d}"
        lines.append((label, qty, unit, Decimal(0) if micro else Decimal(rate)))
    prefix = {"deposit": "AC", "credit": "AV", "credit_labelled": "AV"}.get(kind, ["FA", "F", "FAC", "INV", "2"][n % 5])
    number = [f"{prefix}-{year}-{rnd.randint(1, 999):04d}", f"{prefix}{year}-{rnd.randint(100, 9999):05d}", f"{prefix}/{year}/{rnd.randint(10, 999):04d}",
              f"{prefix}-{rnd.randint(100000, 999999)}"][n % 4]
    if prefix == "2":
        number = f"{year}-{rnd.randint(1000, 9999)}"
    sign = Decimal(-1) if kind == "credit" else Decimal(1)
    share = Decimal("0.30") if kind == "deposit" else Decimal(1)
    bases = {}
    for _, qty, unit, rate in lines:
        bases[rate] = bases.get(rate, Decimal(0)) + qty * unit
    order_ht = sum(bases.values())
    bases = {r: q2(b * share) * sign for r, b in bases.items()}
    taxes = {r: q2(b * r / 100) for r, b in bases.items()}
    ht, tva = sum(bases.values()), sum(taxes.values())
    spec = {"n": n, "kind": kind, "fmt": fmt, "seller": seller, "lines": lines, "bases": bases, "taxes": taxes, "ht": ht, "tva": tva, "ttc": ht + tva,
            "order_ht": order_ht, "order": f"BC-{year}-{rnd.randint(100, 999)}", "number": number, "issued": issued, "due": due, "period": (first, last),
            "credited": f"FA-{year}-{rnd.randint(1, 999):04d}", "micro": micro,
            # Half the VAT-exempt invoices print a VAT line at 0,00, the others none.
            "zero_tva_row": micro and n % 2 == 0}
    truth = {"kind": "credit_note" if kind.startswith("credit") else "invoice", "number": number, "issue_date": issued.isoformat(),
             "seller_name": seller["name"], "seller_siren": seller["siren"], "seller_siret": seller["siret"], "vat_id": None if micro else seller["vat"],
             "total_ht": f"{ht:.2f}", "total_tva": (f"{tva:.2f}" if spec["zero_tva_row"] else None) if micro else f"{tva:.2f}", "total_ttc": f"{ht + tva:.2f}", "currency": "EUR"}
    return spec, truth


def d_num(d, sep="/"):
    return f"{d.day:02d}{sep}{d.month:02d}{sep}{d.year}"


def d_words(d):
    return f"{d.day} {MOIS[d.month - 1]} {d.year}"


def title_of(s, upper=True):
    t = {"deposit": "Facture d'acompte", "credit": "Avoir", "credit_labelled": "Facture d'avoir"}.get(s["kind"], "Facture")
    return t.upper() if upper else t


# Wordings of the totals, as invoicing programs print them: (HT, TVA, TTC).
WORDINGS = [("Total HT", "TVA", "Total TTC"), ("Montant hors taxes", "Montant TVA", "Montant TTC"), ("Total H.T.", "T.V.A.", "Net à payer"),
            ("Sous-total HT", "Total TVA", "Total à payer"), ("Total net HT", "TVA", "Total TTC"), ("Base HT", "Montant de la TVA", "Total à régler")]


def rate_text(r):
    return f"{r:.1f}".replace(".", ",").replace(",0", "") + " %"


def seller_legal(spec):
    s = spec["seller"]
    capital = "" if spec["micro"] else " au capital de 20 000 €"
    vat = "TVA non applicable, art. 293 B du CGI" if spec["micro"] else f"N° TVA intracommunautaire : {s['vat']}"
    return f"{s['name']}{capital} – {s['street']}, {s['city']} – SIRET {spaced(s['siret'], [3, 3, 3, 5])} – RCS {s['city'].split(' ', 1)[1]} – {vat}"


def buyer_block_lines(spec, ids=True):
    h = HOSPITAL
    out = [h["name"], "Direction des achats", "12 avenue des Tilleuls", h["city"]]
    if ids:
        out += [f"SIRET : {spaced(h['siret'], [3, 3, 3, 5])}", f"FINESS : {HOSPITAL_FINESS}"]
    return out


def seller_block_lines(spec):
    s = spec["seller"]
    out = [s["name"], s["street"], s["city"], f"SIRET : {s['siret']}"]
    if not spec["micro"]:
        out.append(f"TVA : {s['vat']}")
    return out


def meta_pairs(spec, dates="num"):
    """Label/value pairs of the head: number, dates, and what else the kind needs."""
    f = d_num if dates == "num" else d_words
    pairs = [("Numéro", spec["number"]), ("Date", f(spec["issued"])), ("Échéance", f(spec["due"])),
             ("Période", f"du {d_num(spec['period'][0])} au {d_num(spec['period'][1])}")]
    if spec["kind"] == "deposit":
        pairs.append(("Commande", spec["order"]))
    if spec["kind"].startswith("credit"):
        pairs.append(("Facture d'origine", spec["credited"]))
    return pairs


def totals_rows(spec, words, breakdown):
    fmt = spec["fmt"]
    ht, tv, tt = words
    rows = [(ht, wide_amount(spec["ht"], fmt))]
    if spec["micro"]:
        if spec["zero_tva_row"]:
            rows.append(("TVA", wide_amount(Decimal("0.00"), fmt)))
    elif breakdown or len(spec["taxes"]) > 1:
        for r in sorted(spec["taxes"], reverse=True):
            rows.append((f"{tv} {rate_text(r)}", wide_amount(spec["taxes"][r], fmt)))
        if len(spec["taxes"]) > 1:
            rows.append(("Total TVA", wide_amount(spec["tva"], fmt)))
    else:
        r = next(iter(spec["taxes"]))
        rows.append((f"{tv} {rate_text(r)}", wide_amount(spec["tva"], fmt)))
    rows.append((tt, wide_amount(spec["ttc"], fmt)))
    return rows


def kind_note(spec):
    fmt = spec["fmt"]
    if spec["kind"] == "deposit":
        return f"Acompte de 30 % sur la commande {spec['order']} d'un montant total de {wide_amount(spec['order_ht'], fmt)} HT."
    if spec["kind"].startswith("credit"):
        return f"Avoir sur la facture {spec['credited']} : remboursement de prestations non réalisées."
    if spec["micro"]:
        return "TVA non applicable, art. 293 B du CGI."
    return "Paiement à 30 jours par virement. Pénalités de retard : trois fois le taux d'intérêt légal ; indemnité forfaitaire de 40 €."


def item_rows(spec):
    fmt, sign = spec["fmt"], (-1 if spec["kind"] == "credit" else 1)
    out = []
    for label, qty, unit, rate in spec["lines"]:
        total = qty * unit * sign
        if spec["kind"] == "deposit":
            label = f"{label} (acompte 30 %)"
            total = q2(total * Decimal("0.30"))
        out.append((label, str(qty), wide_amount(unit, fmt), "–" if spec["micro"] else rate_text(rate), wide_amount(total, fmt)))
    return out


# HTML layouts, each modelled on what an invoicing program prints. Knobs: head (where the
# seller's block is: left, right, footer, banner), meta (inline, lv = a label/value table,
# grid = labels over values, lines), totals (table, inline, breakdown = a table of rates),
# wording (WORDINGS), dates (num or words), css.
HTML_LAYOUTS = {
    "sage": dict(head="left", meta="lv", totals="table", wording=0, dates="num", css="body{font-family:'DejaVu Sans'} th{background:#ddd}"),
    "ebp": dict(head="right", meta="grid", totals="breakdown", wording=1, dates="num", css="body{font-family:'DejaVu Serif'}"),
    "odoo": dict(head="left", meta="lines", totals="table", wording=4, dates="num", css="h1{color:#714b67}"),
    "dolibarr": dict(head="left", meta="lv", totals="breakdown", wording=0, dates="num", css="td,th{font-size:9pt}"),
    "pennylane": dict(head="footer", meta="lines", totals="table", wording=3, dates="words", css="body{font-family:'DejaVu Sans';color:#222}"),
    "axonaut": dict(head="banner", meta="grid", totals="table", wording=0, dates="num", css=".banner{background:#0b5;color:#fff;padding:8pt}"),
    "quickbooks": dict(head="right", meta="lv", totals="inline", wording=5, dates="num", css="h1{color:#2ca01c}"),
    "zoho": dict(head="left", meta="inline", totals="breakdown", wording=4, dates="words", css="h1{font-weight:normal;font-size:26pt}"),
    "henrri": dict(head="footer", meta="lv", totals="table", wording=2, dates="num", css="body{font-size:9pt}"),
    "tiime": dict(head="banner", meta="lines", totals="inline", wording=3, dates="words", css=".banner{border-bottom:3pt solid #333}"),
    "facturenet": dict(head="right", meta="inline", totals="table", wording=0, dates="num", css=""),
    "invoiceninja": dict(head="left", meta="grid", totals="table", wording=5, dates="num", css="th{text-transform:uppercase}"),
    "cegid": dict(head="footer", meta="grid", totals="breakdown", wording=1, dates="num", css="body{font-family:'DejaVu Sans Mono';font-size:8.5pt}"),
    "abby": dict(head="left", meta="lines", totals="inline", wording=2, dates="words", css=""),
}


def html_wide(spec, k):
    s, fmt = spec["seller"], spec["fmt"]
    words = WORDINGS[k["wording"]]
    title = title_of(spec)
    seller_html = "<br>".join([f"<b>{seller_block_lines(spec)[0]}</b>"] + seller_block_lines(spec)[1:])
    buyer_html = "<br>".join([f"<b>{l}</b>" if i == 0 else l for i, l in enumerate(buyer_block_lines(spec))])
    if k["head"] == "left":
        head = f"<table style='width:100%'><tr><td style='width:55%'>{seller_html}</td><td><b>Client</b><br>{buyer_html}</td></tr></table>"
    elif k["head"] == "right":
        head = f"<table style='width:100%'><tr><td style='width:50%'><b>Facturé à</b><br>{buyer_html}</td><td>{seller_html}</td></tr></table>"
    elif k["head"] == "banner":
        head = (f"<div class=banner><span style='font-size:18pt;font-weight:bold'>{s['name']}</span><br>{s['street']} – {s['city']}</div>"
                f"<table style='width:100%;margin-top:10pt'><tr><td></td><td style='width:45%'><b>Destinataire</b><br>{buyer_html}</td></tr></table>")
    else:  # footer: nothing of the seller's at the top but a logo-like word
        head = (f"<div style='font-size:22pt;color:#557'>◆</div><table style='width:100%'><tr><td></td>"
                f"<td style='width:45%'><b>Adresse de facturation</b><br>{buyer_html}</td></tr></table>")
    pairs = meta_pairs(spec, k["dates"])
    if k["meta"] == "lv":
        meta = f"<h1>{title}</h1><table class=b>" + "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in pairs) + "</table>"
    elif k["meta"] == "grid":
        meta = f"<h1>{title}</h1><table class=b style='width:100%'><tr>" + "".join(f"<th>{a}</th>" for a, _ in pairs) + "</tr><tr>" + "".join(
            f"<td>{b}</td>" for _, b in pairs) + "</tr></table>"
    elif k["meta"] == "lines":
        f = d_num if k["dates"] == "num" else d_words
        meta = (f"<h1>{title} n° {spec['number']}</h1><p>Date d'émission : {f(spec['issued'])}<br>Date d'échéance : {f(spec['due'])}<br>"
                f"Période de prestation : du {d_num(spec['period'][0])} au {d_num(spec['period'][1])}</p>")
    else:  # inline
        f = d_num if k["dates"] == "num" else d_words
        meta = (f"<h2>{title} n° {spec['number']} du {f(spec['issued'])}</h2><p>Échéance : {f(spec['due'])} – "
                f"prestations du {d_num(spec['period'][0])} au {d_num(spec['period'][1])}</p>")
    unit = " (€)" if fmt == "plain" else ""
    items = "".join(f"<tr><td>{a}</td><td class=r>{b}</td><td class=r>{c}</td><td class=r>{d}</td><td class=r>{e}</td></tr>" for a, b, c, d, e in item_rows(spec))
    table = (f"<table class=b style='width:100%;margin-top:12pt'><tr><th>Désignation</th><th>Qté</th><th>P.U. HT{unit}</th><th>TVA</th>"
             f"<th>Montant HT{unit}</th></tr>{items}</table>")
    rows = totals_rows(spec, words, k["totals"] == "breakdown")
    if k["totals"] == "breakdown" and not spec["micro"]:
        br = "".join(f"<tr><td class=r>{rate_text(r)}</td><td class=r>{wide_amount(spec['bases'][r], fmt)}</td><td class=r>{wide_amount(spec['taxes'][r], fmt)}</td></tr>"
                     for r in sorted(spec["taxes"], reverse=True))
        totals = (f"<table style='width:100%;margin-top:12pt'><tr><td style='width:50%'><table class=b><tr><th>Taux</th><th>Base HT</th><th>Montant TVA</th></tr>{br}</table></td>"
                  f"<td><table class=b style='margin-left:auto'><tr><td>{words[0]}</td><td class=r>{wide_amount(spec['ht'], fmt)}</td></tr>"
                  f"<tr><td>Total TVA</td><td class=r>{wide_amount(spec['tva'], fmt)}</td></tr><tr><td><b>{words[2]}</b></td><td class=r><b>{wide_amount(spec['ttc'], fmt)}</b></td></tr></table></td></tr></table>")
    elif k["totals"] == "inline":
        totals = "<p style='text-align:right;margin-top:12pt'>" + "<br>".join(f"{a} : {b}" for a, b in rows) + "</p>"
    else:
        totals = "<table class=b style='margin-left:auto;margin-top:12pt'>" + "".join(f"<tr><td>{a}</td><td class=r>{b}</td></tr>" for a, b in rows) + "</table>"
    foot = f"<p>{kind_note(spec)}</p><p class=small style='margin-top:24pt;border-top:1px solid #999;padding-top:4pt'>{seller_legal(spec)}</p>"
    return page(head + meta + table + totals + foot, k["css"])


def fods_wide(spec, k):
    """A spreadsheet-made invoice (Flat ODS), as LibreOffice Calc exports it to PDF."""
    from xml.sax.saxutils import escape as x
    fmt, words = spec["fmt"], WORDINGS[k["wording"]]
    rows = []
    blank = [""] * 5
    sb, bb = seller_block_lines(spec), buyer_block_lines(spec)
    if k["head"] == "left":
        for i in range(max(len(sb), len(bb))):
            rows.append([sb[i] if i < len(sb) else "", "", bb[i] if i < len(bb) else "", "", ""])
    elif k["head"] == "right":
        for i in range(max(len(sb), len(bb))):
            rows.append([bb[i] if i < len(bb) else "", "", sb[i] if i < len(sb) else "", "", ""])
    else:
        rows += [["", "", l, "", ""] for l in ["Client :"] + bb]
    rows += [blank, [title_of(spec), "", "", "", ""]]
    for a, b in meta_pairs(spec, "num"):
        rows.append([a, b, "", "", ""])
    unit = " (€)" if fmt == "plain" else ""
    rows += [blank, ["Désignation", "Qté", f"Prix unitaire{unit}", "TVA", f"Montant HT{unit}"]]
    rows += [list(r) for r in item_rows(spec)]
    rows.append(blank)
    for a, b in totals_rows(spec, words, k["totals"] == "breakdown"):
        rows.append(["", "", "", a, b])
    # Long sentences cut where a row of cells would be, as one types them in a sheet.
    note = kind_note(spec)
    cut = note.find(" ", 60) if len(note) > 80 else -1
    rows += [blank] + [[part, "", "", "", ""] for part in ([note[:cut], note[cut + 1:]] if cut > 0 else [note])]
    if k["head"] == "footer":
        legal = seller_legal(spec).split(" – ")
        rows += [blank] + [[" – ".join(legal[i:i + 2]), "", "", "", ""] for i in (0, 2, 4)]
    widths = ["6cm", "1.2cm", "2.4cm", "4.2cm", "2.8cm"]
    cols = "".join(f'<table:table-column table:style-name="co{i}"/>' for i in range(5))
    styles = "".join(f'<style:style style:name="co{i}" style:family="table-column"><style:table-column-properties style:column-width="{w}"/></style:style>'
                     for i, w in enumerate(widths))
    body = "".join("<table:table-row>" + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{x(c)}</text:p></table:table-cell>' if c else "<table:table-cell/>" for c in r) + "</table:table-row>"
                   for r in rows)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:automatic-styles>{styles}</office:automatic-styles>
<office:body><office:spreadsheet><table:table table:name="Facture">{cols}{body}</table:table></office:spreadsheet></office:body></office:document>"""


def canvas_wide(spec, k):
    """An invoice drawn at fixed places (PostScript, reportlab): pages of (x, y, size,
    bold, align, text), A4 in points, y from the top."""
    fmt, words = spec["fmt"], WORDINGS[k["wording"]]
    pages, ops = [], []
    y = 60

    def put(x, text, size=9, bold=False, align="l"):
        ops.append((x, y, size, bold, align, text))

    sb, bb = seller_block_lines(spec), buyer_block_lines(spec)
    if k["head"] in ("left", "right"):
        (lx, lb), (rx, rb) = ((50, sb), (330, bb)) if k["head"] == "left" else ((50, bb), (330, sb))
        if k["head"] == "left":
            rb = ["Client :"] + rb
        else:
            lb = ["Facturé à :"] + lb
        for i in range(max(len(lb), len(rb))):
            if i < len(lb):
                put(lx, lb[i], 10 if i == 0 else 9, i == (0 if k["head"] == "left" else 1))
            if i < len(rb):
                put(rx, rb[i], 10 if i == 0 else 9, i == (1 if k["head"] == "left" else 0))
            y += 12
    else:
        for i, l in enumerate(["Destinataire :"] + bb):
            put(330, l, 9, i == 1)
            y += 12
    y += 18
    put(50, title_of(spec), 16, True)
    y += 24
    if k["meta"] == "lv":
        for a, b in meta_pairs(spec):
            put(50, a, 9, True)
            put(160, b)
            y += 13
    else:
        put(50, f"{title_of(spec, False)} n° {spec['number']} du {d_num(spec['issued'])}", 10, True)
        y += 13
        put(50, f"Date d'échéance : {d_num(spec['due'])}    Période : du {d_num(spec['period'][0])} au {d_num(spec['period'][1])}")
        y += 13
        if spec["kind"] == "deposit":
            put(50, f"Commande : {spec['order']}")
            y += 13
    y += 14
    unit = " (€)" if fmt == "plain" else ""
    head = ("Désignation", "Qté", f"P.U. HT{unit}", "TVA", f"Montant HT{unit}")
    xs = [(50, "l"), (330, "r"), (400, "r"), (450, "r"), (545, "r")]

    def header():
        nonlocal y
        for (x, al), t in zip(xs, head):
            put(x, t, 9, True, al)
        y += 14

    header()
    for row in item_rows(spec):
        if y > 760:
            put(545, f"Page {len(pages) + 1}", 8, False, "r")
            pages.append(ops)
            ops, y = [], 60
            put(50, f"{title_of(spec, False)} {spec['number']} (suite)", 10, True)
            y += 24
            header()
        for (x, al), t in zip(xs, row):
            put(x, t[:60], 8.5, False, al)
        y += 12
    y += 14
    for a, b in totals_rows(spec, words, k["totals"] == "breakdown"):
        put(330, a, 9.5, a == words[2])
        put(545, b, 9.5, a == words[2], "r")
        y += 14
    y += 14
    note = kind_note(spec)
    cut = note.find(" ", 90) if len(note) > 110 else -1
    for part in [note[:cut], note[cut + 1:]] if cut > 0 else [note]:
        put(50, part, 8)
        y += 11
    legal = seller_legal(spec)
    cut = legal.rfind(" – ", 0, 100)
    ops.append((50, 800, 7, False, "l", legal[:cut]))
    ops.append((50, 810, 7, False, "l", legal[cut + 3:]))
    pages.append(ops)
    return pages


def ps_wide(pages):
    def esc(t):
        return t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").replace("\u00a0", " ").replace("–", "-").replace("◆", "").replace("€", "EUR")

    out = ["%!PS-Adobe-3.0", "/reencode { findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall",
           "/Encoding ISOLatin1Encoding def currentdict end definefont pop } def", "/F /Helvetica reencode", "/B /Helvetica-Bold reencode"]
    for ops in pages:
        for x, y, size, bold, align, text in ops:
            font = "/B" if bold else "/F"
            t = esc(text)
            if align == "r":
                out.append(f"{font} findfont {size} scalefont setfont ({t}) dup stringwidth pop {x} exch sub {842 - y} moveto show")
            else:
                out.append(f"{font} findfont {size} scalefont setfont {x} {842 - y} moveto ({t}) show")
        out.append("showpage")
    return "\n".join(out).encode("latin-1")


def reportlab_wide(pages, path, title):
    from reportlab.pdfgen import canvas
    from reportlab.lib.pagesizes import A4
    c = canvas.Canvas(path, pagesize=A4, invariant=1)
    c.setTitle(title)
    for ops in pages:
        for x, y, size, bold, align, text in ops:
            c.setFont("Helvetica-Bold" if bold else "Helvetica", size)
            text = text.replace("\u00a0", " ").replace("◆", "")
            (c.drawRightString if align == "r" else c.drawString)(x, 842 - y, text)
        c.showPage()
    c.save()


def groff_wide(spec, k):
    """An invoice typeset by groff (-ms and tbl), as Unix billing scripts still print them."""
    fmt, words = spec["fmt"], WORDINGS[k["wording"]]
    esc = lambda t: t.replace("\\", "\\\\").replace("\u00a0", "\\~").replace("–", "\\[en]")
    sb, bb = seller_block_lines(spec), buyer_block_lines(spec)
    out = [".nr PS 10", ".nr VS 12", ".nr LL 6.3i", ".nr PO 0.9i", ".ds CH", ".LP", ".na"]
    if k["head"] == "left":
        out += [".TS", "tab(|);", "l l.", *[f"{esc(a)}|{esc(b)}" for a, b in zip(sb + [""] * 3, ["Client :"] + bb)], ".TE"]
    else:
        out += [".TS", "tab(|);", "l l.", *[f"{esc(a)}|{esc(b)}" for a, b in zip(["Facturé à :"] + bb, sb + [""] * 3)], ".TE"]
    out += [".sp", f".ps 16\n\\fB{esc(title_of(spec))}\\fP\n.ps 10", ".sp", ".TS", "tab(|);", "lB l."]
    out += [f"{esc(a)}|{esc(b)}" for a, b in meta_pairs(spec)]
    out += [".TE", ".sp", ".TS", "tab(|) expand box;", "lB rB rB rB rB", "l r r r r."]
    unit = " (€)" if fmt == "plain" else ""
    out += [f"Désignation|Qté|P.U. HT{unit}|TVA|Montant HT{unit}"] + [esc("|".join(r)) for r in item_rows(spec)]
    out += [".TE", ".sp", ".TS", "tab(|);", "l r."] + [esc(f"{a}|{b}") for a, b in totals_rows(spec, words, k["totals"] == "breakdown")]
    out += [".TE", ".sp", ".LP", esc(kind_note(spec)), ".sp 2", ".ps 7", esc(seller_legal(spec))]
    return "\n".join(out) + "\n"


# The layouts beyond HTML: (producer, name, knobs).
CANVAS_LAYOUTS = {
    "ps-caisse": dict(head="left", meta="lv", totals="table", wording=0), "ps-unix": dict(head="right", meta="inline", totals="breakdown", wording=2),
    "ps-as400": dict(head="footer", meta="lv", totals="table", wording=5), "ps-erp": dict(head="left", meta="inline", totals="table", wording=3),
    "rl-python": dict(head="right", meta="lv", totals="table", wording=4), "rl-django": dict(head="left", meta="inline", totals="breakdown", wording=1),
    "rl-odoo12": dict(head="footer", meta="inline", totals="table", wording=0), "rl-flask": dict(head="right", meta="lv", totals="breakdown", wording=3),
}
CALC_LAYOUTS = {"calc-modele": dict(head="left", totals="table", wording=0), "calc-artisan": dict(head="right", totals="breakdown", wording=2),
                "calc-tableur": dict(head="footer", totals="table", wording=3)}
GROFF_LAYOUTS = {"groff-ms": dict(head="left", totals="table", wording=0), "groff-tbl": dict(head="right", totals="breakdown", wording=1)}
# Which HTML layouts each HTML producer prints (the same template through another engine
# lays its text out otherwise: another layout).
HTML_PRODUCERS = {"chromium": list(HTML_LAYOUTS), "wkhtmltopdf": ["sage", "ebp", "odoo", "pennylane", "quickbooks", "henrri", "cegid"],
                  "libreoffice": ["dolibarr", "zoho", "tiime", "facturenet"]}
FMTS = ["fr", "dot", "plain", "frs"]


def wide_plan():
    """Every (producer, layout, knobs) with two invoices each, kinds and amount formats
    spread so that each producer meets each."""
    plan = [(p, name, HTML_LAYOUTS[name]) for p, names in HTML_PRODUCERS.items() for name in names]
    plan += [("ghostscript" if name.startswith("ps-") else "reportlab", name, k) for name, k in CANVAS_LAYOUTS.items()]
    plan += [("calc", name, k) for name, k in CALC_LAYOUTS.items()]
    plan += [("groff", name, k) for name, k in GROFF_LAYOUTS.items()]
    out, n = [], 0
    for j, (producer, name, k) in enumerate(plan):
        for m in range(2):
            kind = KINDS[(j * 3 + m * 5) % len(KINDS)]
            spec, truth = wide_spec(100 + n, kind, FMTS[(j + m) % 4], j + 3 * m)
            out.append((producer, name, k, spec, truth))
            n += 1
    return out


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def chromium_pdf(html_path, pdf_path):
    run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}", "file://" + os.path.abspath(html_path)])


def scan(pdf_path, dpi, seed, fmt, out_path):
    """A page as a scanner or a phone gives it back: grey, turned a little, noisy, JPEG'd."""
    from PIL import Image, ImageChops, ImageFilter
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as t:
        run(["pdftoppm", "-gray", "-singlefile", "-r", str(dpi), "-png", pdf_path, os.path.join(t, "p")])
        img = Image.open(os.path.join(t, "p.png")).convert("L")
    img = img.rotate(rnd.uniform(-1.5, 1.5), resample=Image.BICUBIC, expand=False, fillcolor=255)
    img = ImageChops.add(img, Image.effect_noise(img.size, 18), 1.0, -128)  # sensor noise
    px = img.load()
    w, h = img.size
    for _ in range(w * h // 400):  # specks, as dust on the glass
        px[rnd.randrange(w), rnd.randrange(h)] = rnd.choice((0, 90, 255))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    if fmt == "pdf":
        img.save(out_path, "PDF", resolution=dpi, quality=70)
    elif fmt == "jpg":
        img.save(out_path, "JPEG", quality=60, dpi=(dpi, dpi))
    else:
        img.save(out_path, "PNG", dpi=(dpi, dpi))


def perspective_coeffs(dst, src):
    """Pillow's PERSPECTIVE data mapping each output corner `dst[i]` to the input corner
    `src[i]`: the eight unknowns of the homography, by Gaussian elimination (no numpy)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
    m = [r + [b] for r, b in zip(rows, rhs)]
    for c in range(8):
        p = max(range(c, 8), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(8):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[c])]
    return [m[i][8] / m[i][i] for i in range(8)]


def photo(pdf_path, dpi, seed, out_path):
    """A page as a phone photographs it on a desk: colour, the sheet smaller than the
    frame on a darker table, seen a little from the side (perspective), turned a few
    degrees, a shadow across it, grey paper and grey ink (low contrast), out of focus,
    JPEG at 150 to 200 dpi with the 72 dpi a phone writes in the file."""
    from PIL import Image, ImageChops, ImageFilter
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as t:
        run(["pdftoppm", "-singlefile", "-r", str(dpi), "-png", pdf_path, os.path.join(t, "p")])
        page = Image.open(os.path.join(t, "p.png")).convert("RGB")
    # Low contrast: ink never black, paper never white, a warm tint.
    lo, hi = rnd.randint(40, 70), rnd.randint(190, 215)
    page = page.point(lambda v: lo + v * (hi - lo) // 255)
    page = ImageChops.multiply(page, Image.new("RGB", page.size, (255, 246, 230)))
    w, h = page.size
    mx, my = int(w * 0.08), int(h * 0.06)
    W, H = w + 2 * mx, h + 2 * my
    table = Image.new("RGB", (W, H), (rnd.randint(60, 90), rnd.randint(50, 70), rnd.randint(40, 55)))
    table.paste(page, (mx, my))
    # Seen from the side: the sheet's corners pulled in by up to 4 % of the frame.
    j = lambda a: rnd.uniform(0, 0.04) * a
    dst = [(mx + j(W), my + j(H)), (mx + w - j(W), my + j(H)), (mx + w - j(W), my + h - j(H)), (mx + j(W), my + h - j(H))]
    src = [(mx, my), (mx + w, my), (mx + w, my + h), (mx, my + h)]
    img = table.transform((W, H), Image.PERSPECTIVE, perspective_coeffs(dst, src), Image.BICUBIC, fillcolor=(70, 60, 50))
    img = img.rotate(rnd.choice((-1, 1)) * rnd.uniform(1.5, 3.5), resample=Image.BICUBIC, expand=False, fillcolor=(70, 60, 50))
    # A shadow (the phone, a hand) darkening one side of the sheet by up to 45 %.
    ramp = Image.linear_gradient("L").resize((W, H)).rotate(rnd.choice((0, 90, 180, 270)), expand=False)
    depth = rnd.uniform(0.3, 0.45)
    shade = ramp.point(lambda v: int(255 * (1 - depth * max(0, v - 128) / 127)))
    img = ImageChops.multiply(img, Image.merge("RGB", (shade, shade, shade)))
    img = ImageChops.add(img, Image.effect_noise((W, H), 10).convert("RGB"), 1.0, -128)
    img = img.filter(ImageFilter.GaussianBlur(rnd.uniform(0.7, 1.1)))
    img.save(out_path, "JPEG", quality=rnd.randint(65, 80), dpi=(72, 72))


def wide_invoices(work, truth):
    """The layouts of `wide_plan()` through their producers, then photos and scans of some."""
    from concurrent.futures import ThreadPoolExecutor
    for d in ("wkhtmltopdf", "calc", "reportlab", "groff"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)
    html_jobs, writer, calc, made = [], [], [], []
    for producer, name, k, spec, t in wide_plan():
        stem = f"{name}-{spec['kind']}-{spec['number'].replace('/', '-')}"
        rel = f"{producer}/{stem}.pdf"
        out = os.path.join(OUT, rel)
        truth[rel] = t
        made.append((rel, spec))
        if producer in ("chromium", "wkhtmltopdf", "libreoffice"):
            src = os.path.join(work, f"w-{producer}-{stem}.html")
            open(src, "w", encoding="utf-8").write(html_wide(spec, k))
            (writer if producer == "libreoffice" else html_jobs).append((producer, src, out))
        elif producer == "calc":
            src = os.path.join(work, f"w-calc-{stem}.fods")
            open(src, "w", encoding="utf-8").write(fods_wide(spec, k))
            calc.append((src, out))
        elif producer == "ghostscript":
            src = os.path.join(work, f"w-{stem}.ps")
            open(src, "wb").write(ps_wide(canvas_wide(spec, k)))
            run(["ps2pdf", src, out])
        elif producer == "reportlab":
            reportlab_wide(canvas_wide(spec, k), out, f"{title_of(spec, False)} {spec['number']}")
        else:
            src = os.path.join(work, f"w-{stem}.ms")
            open(src, "w", encoding="utf-8").write(groff_wide(spec, k))
            with open(out, "wb") as pdf:
                subprocess.run(["groff", "-k", "-t", "-ms", "-Tpdf", "-P-pa4", src], check=True, stdout=pdf, stderr=subprocess.DEVNULL)

    def html(job):
        producer, src, out = job
        if producer == "chromium":
            chromium_pdf(src, out)
        else:
            # wkhtmltopdf (Qt WebKit) without a display: Qt's offscreen platform.
            run(["wkhtmltopdf", "--quiet", "--encoding", "utf-8", "-s", "A4", src, out], env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(html, html_jobs))
    profile = "file://" + os.path.join(work, "lo-profile")
    soffice = ["soffice", f"-env:UserInstallation={profile}", "--headless", "--norestore"]
    run(soffice + ["--infilter=HTML (StarWriter)", "--convert-to", "odt:writer8", "--outdir", work] + [s for _, s, _ in writer])
    run(soffice + ["--convert-to", "pdf:writer_pdf_Export", "--outdir", work] + [s[:-5] + ".odt" for _, s, _ in writer])
    for _, src, out in writer:
        shutil.move(src[:-5] + ".pdf", out)
    run(soffice + ["--convert-to", "pdf:calc_pdf_Export", "--outdir", work] + [s for s, _ in calc])
    for src, out in calc:
        shutil.move(src[:-5] + ".pdf", out)
    # Photos and scans of one-page invoices of every producer.
    single = [(rel, spec) for rel, spec in made if spec["kind"] != "multipage"]
    for n, (rel, spec) in enumerate(single[::6]):
        dpi = (150, 175, 200)[n % 3]
        out_rel = f"photos/{os.path.basename(rel)[:-4]}.jpg"
        photo(os.path.join(OUT, rel), dpi, 300 + n, os.path.join(OUT, out_rel))
        truth[out_rel] = dict(truth[rel], scan_dpi=dpi, capture="phone")
    for n, (rel, spec) in enumerate(single[3::9]):
        dpi, fmt = [(300, "pdf"), (200, "jpg"), (300, "png"), (200, "pdf")][n % 4]
        out_rel = f"scans-{dpi}dpi/{os.path.basename(rel)[:-4]}.{fmt}"
        scan(os.path.join(OUT, rel), dpi, 400 + n, fmt, os.path.join(OUT, out_rel))
        truth[out_rel] = dict(truth[rel], scan_dpi=dpi)


def main():
    for tool in ("chromium", "soffice", "ps2pdf", "pdftoppm", "wkhtmltopdf", "groff"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (scripts/services.sh installs it)")
    truth = {}
    work = tempfile.mkdtemp(prefix="caregate-corpus-")
    for d in ("chromium", "libreoffice", "ghostscript", "scans-300dpi", "scans-200dpi", "photos"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)
    docs = []
    for layout in range(4):
        for k, producer in enumerate(("chromium", "libreoffice")):
            i = layout * 2 + k
            d, t = invoice(i, layout, SELLERS[(layout + k) % 4])
            docs.append((producer, f"facture-{layout + 1}-{d['number'].replace('/', '-')}", html_invoice(d, layout), t))
    for producer in ("chromium", "libreoffice"):
        docs.append((producer, "attestation-realisation", html_attestation(SELLERS[0]), {"kind": "attestation"}))
        docs.append((producer, "rapport-audit-ad", html_report(SELLERS[3]),
                     {"kind": "ad_audit_report", "anssi_level": 3, "audit_date": "2024-06-11", "domain": "ch-valmont.local"}))
    # Invoices about an audit or a scan: their lines name an AD audit, a rapport d'audit,
    # ports and services; they are invoices all the same.
    for k, (producer, items) in enumerate((("chromium", AD_AUDIT_ITEMS), ("libreoffice", AD_AUDIT_ITEMS), ("chromium", SCAN_ITEMS))):
        d, t = audit_invoice(30 + k, k % 2, SELLERS[(k + 2) % 4], items)
        docs.append((producer, f"facture-audit-{d['number'].replace('/', '-')}", html_invoice(d, k % 2), t))
    # What comes with the proofs and proves nothing: kinds of their own, accepted by no objective.
    sent = [(t["number"], t["seller_name"], t["issue_date"], Decimal(t["total_ttc"])) for _, _, _, t in docs if t["kind"] == "invoice"][:3]
    total = sum(v for _, _, _, v in sent)
    docs += [("chromium", "courrier-transmission", cover_letter("formal", sent, total), {"kind": "cover_letter"}),
             ("libreoffice", "lettre-transmission-factures", cover_letter("list", sent, total), {"kind": "cover_letter"}),
             ("chromium", "message-envoi", cover_letter("short", sent, total), {"kind": "cover_letter"}),
             ("libreoffice", "devis-DE-2024-031", commercial("DEVIS", "DE-2024-031", SELLERS[0], AD_AUDIT_ITEMS, "15/04/2024",
                                                             "<p>Validité de l'offre : 60 jours.</p><p>Bon pour accord (date, signature, cachet) :</p>"), {"kind": "quote"}),
             ("chromium", "devis-scan-DV2024-77", commercial("Devis", "DV2024-77", SELLERS[2], SCAN_ITEMS, "3 mai 2024",
                                                              "<p>Offre valable 90 jours. Acompte de 30 % à la commande.</p>"), {"kind": "quote"}),
             ("chromium", "bon-de-commande-BC-2024-118", commercial("BON DE COMMANDE", "BC-2024-118", SELLERS[1], AD_AUDIT_ITEMS, "22/04/2024",
                                                                     "<p>Adresse de livraison : DSI, bâtiment B. Imputation : compte 2183.</p><p>L'ordonnateur</p>"), {"kind": "purchase_order"}),
             ("libreoffice", "contrat-prestation", contract(SELLERS[0]), {"kind": "contract"}),
             ("chromium", "restitution-copil", slide_deck(SELLERS[3]), {"kind": "slide_deck"}),
             ("chromium", "schema-reseau", diagram("Schéma d'architecture réseau – CH de Valmont"), {"kind": "diagram"})]
    lo_inputs = []
    for producer, name, html, t in docs:
        src = os.path.join(work, f"{producer}-{name}.html")
        open(src, "w", encoding="utf-8").write(html)
        rel = f"{producer}/{name}.pdf"
        truth[rel] = t
        if producer == "chromium":
            chromium_pdf(src, os.path.join(OUT, rel))
        else:
            lo_inputs.append((src, rel))
    # LibreOffice: HTML -> ODT (Writer's document), then ODT -> PDF (its own export).
    profile = "file://" + os.path.join(work, "lo-profile")
    soffice = ["soffice", f"-env:UserInstallation={profile}", "--headless", "--norestore"]
    # Read as a Writer document (not Writer/Web, whose page styles differ from an office's).
    run(soffice + ["--infilter=HTML (StarWriter)", "--convert-to", "odt:writer8", "--outdir", work] + [s for s, _ in lo_inputs])
    run(soffice + ["--convert-to", "pdf:writer_pdf_Export", "--outdir", work] + [s[:-5] + ".odt" for s, _ in lo_inputs])
    for src, rel in lo_inputs:
        shutil.move(src[:-5] + ".pdf", os.path.join(OUT, rel))
    # Ghostscript: two plain one-column invoices.
    for j in range(2):
        d, t = invoice(20 + j, 0, SELLERS[(j + 1) % 4])
        d["dotted"] = j == 1
        ps = os.path.join(work, f"gs-{j}.ps")
        open(ps, "wb").write(ps_invoice(d))
        rel = f"ghostscript/facture-{d['number']}.pdf"
        run(["ps2pdf", ps, os.path.join(OUT, rel)])
        truth[rel] = t
    # Ghostscript: a micro-entrepreneur's invoice, without VAT ("TVA non applicable").
    d, t = invoice(22, 0, MICRO)
    d.update(without_vat=True, tva=Decimal("0"), ttc=d["ht"])
    t.update(vat_id=None, total_tva=None, total_ttc=t["total_ht"])
    ps = os.path.join(work, "gs-micro.ps")
    open(ps, "wb").write(ps_invoice(d))
    rel = f"ghostscript/facture-{d['number']}.pdf"
    run(["ps2pdf", ps, os.path.join(OUT, rel)])
    truth[rel] = t
    ps = os.path.join(work, "gs-letter.ps")
    open(ps, "wb").write(ps_letter())
    run(["ps2pdf", ps, os.path.join(OUT, "ghostscript/courrier-envoi.pdf")])
    truth["ghostscript/courrier-envoi.pdf"] = {"kind": "cover_letter"}
    # Scans of the invoices: 300 dpi as the copier's PDF and as a JPEG, 200 dpi as PNG.
    invoices = sorted(r for r, t in truth.items() if t["kind"] == "invoice" and not r.startswith("ghostscript/") and "facture-audit-" not in r)
    plan = [(300, "pdf"), (300, "jpg"), (200, "png"), (300, "pdf"), (200, "pdf"), (300, "jpg"), (300, "png"), (200, "jpg")]
    for n, (rel, (dpi, fmt)) in enumerate(zip(invoices, plan)):
        out_rel = f"scans-{dpi}dpi/{os.path.basename(rel)[:-4]}.{fmt}"
        scan(os.path.join(OUT, rel), dpi, n, fmt, os.path.join(OUT, out_rel))
        truth[out_rel] = dict(truth[rel], scan_dpi=dpi)
    # Phone photos of one invoice of each layout, both producers, at 150 to 200 dpi.
    for n, rel in enumerate(invoices[::2]):
        dpi = (150, 175, 200)[n % 3]
        out_rel = f"photos/{os.path.basename(rel)[:-4]}.jpg"
        photo(os.path.join(OUT, rel), dpi, 50 + n, os.path.join(OUT, out_rel))
        truth[out_rel] = dict(truth[rel], scan_dpi=dpi, capture="phone")
    scan(os.path.join(OUT, "chromium/attestation-realisation.pdf"), 200, 99, "jpg", os.path.join(OUT, "scans-200dpi/photo-attestation.jpg"))
    truth["scans-200dpi/photo-attestation.jpg"] = {"kind": "attestation", "scan_dpi": 200}
    # A diagram exported as an image, without a title: boxes, names and addresses only.
    src = os.path.join(work, "diagram.html")
    open(src, "w", encoding="utf-8").write(diagram(""))
    chromium_pdf(src, os.path.join(work, "diagram.pdf"))
    run(["pdftoppm", "-singlefile", "-r", "150", "-png", os.path.join(work, "diagram.pdf"), os.path.join(OUT, "scans-200dpi/schema-reseau")])
    truth["scans-200dpi/schema-reseau.png"] = {"kind": "diagram"}
    # An audit invoice as the copier gives it back: its kind from OCR's text.
    audit = sorted(r for r in truth if "facture-audit-" in r)[0]
    scan(os.path.join(OUT, audit), 300, 77, "pdf", os.path.join(OUT, "scans-300dpi/" + os.path.basename(audit)))
    truth["scans-300dpi/" + os.path.basename(audit)] = dict(truth[audit], scan_dpi=300)
    wide_invoices(work, truth)
    json.dump(truth, open(os.path.join(OUT, "truth.json"), "w"), indent=1, ensure_ascii=False, sort_keys=True)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{len(truth)} files in {OUT}")


if __name__ == "__main__":
    main()

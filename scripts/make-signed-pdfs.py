#!/usr/bin/env python3
"""A throw-away PKI, PDFs signed under it with pyhanko, and pyhanko's own verdict on each.

    python3 scripts/make-signed-pdfs.py OUT

writes into OUT:
  pki/          root.pem (the trust anchor), intermediate.pem, other-root.pem (a CA
                nobody trusts), signer/expired/revoked/tsa certificates, root.crl
  *.pdf         one attestation per case (below)
  oracle.json   per PDF: what pyhanko concludes with root.pem trusted and with no trust
                anchor at all (intact, valid, trusted, revoked, coverage, modification
                level, DocMDP, timestamp), the oracle tests/it/signatures.rs holds
                caregate to.

Cases: a plain signature (PAdES B-B); with a signature timestamp from pyhanko's test
time stamper (B-T); with the chain's revocation data embedded in /DSS (B-LT); with a
document timestamp over that (B-LTA); a certification signature (DocMDP: form filling
allowed) whose empty field is then signed; a signed PDF whose page content is changed
in an appended revision; a PDF signed twice, and the same with the first signature's
appearance stream then rewritten in place (pyhanko's difference analysis refuses it
for both signatures); a signer under an unknown CA; an expired signer; a revoked
signer (its CRL embedded); a signer whose status comes from an OCSP response (B-LT,
the intermediate's own answer); a signer revoked by a delegated OCSP responder; a signer
revoked after a trusted timestamp proved the signature older than the revocation.

Besides pyhanko's plain verdict (validated now), each signature gets pyhanko's
ETSI EN 319 102-1 "validation with time" result (`ades`: its AdES indication), which
is where a proof of existence before a revocation counts.

pyhanko is a test-only dependency (PyPI `pyhanko`); caregate never runs it.
"""

import asyncio
import datetime as dt
import io
import json
import sys
from pathlib import Path

from asn1crypto import keys as asn1_keys, x509 as asn1_x509, crl as asn1_crl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.ades import ades_with_time_validation
from pyhanko.sign.validation.policy_decl import LocalKnowledge, RevinfoOnlineFetchingRule, RevocationInfoGatheringSpec, SignatureValidationSpec
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer
from pyhanko_certvalidator.registry import SimpleCertificateStore

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "caregate PKI de test"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(subject, key, issuer, issuer_key, *, ca=False, not_before=None, not_after=None, eku=None, serial=None, crl_url=None, ocsp_url=None, ocsp_no_check=False):
    b = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer.subject if issuer is not None else name(subject))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - 365 * DAY)
        .not_valid_after(not_after or NOW + 3 * 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku == [ExtendedKeyUsageOID.TIME_STAMPING])
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
    if ocsp_url:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    if ocsp_no_check:
        b = b.add_extension(x509.OCSPNoCheck(), critical=False)
    return b.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def to_asn1_cert(c):
    return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))


def to_asn1_key(k):
    return asn1_keys.PrivateKeyInfo.load(k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def base_pdf(text, with_field=False):
    """A one-page attestation, written by hand so that no other producer is involved."""
    content = f"BT /F1 14 Tf 72 760 Td ({text}) Tj 0 -24 Td (Etablissement FINESS 750000001) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for o in offsets:
        out.write(b"%010d 00000 n \n" % o)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    data = out.getvalue()
    if not with_field:
        return data
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    fields.append_signature_field(w, fields.SigFieldSpec("Validation", box=(72, 600, 272, 660)))
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def main(out):
    out = Path(out)
    (out / "pki").mkdir(parents=True, exist_ok=True)
    root_key, inter_key, other_key = rsa_key(), rsa_key(), rsa_key()
    root = certificate("Racine de test", root_key, None, None, ca=True, not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY)
    inter = certificate("Intermédiaire de test", inter_key, root, root_key, ca=True, crl_url="http://pki.invalid/root.crl")
    other_root = certificate("Racine inconnue", other_key, None, None, ca=True)
    signer_key = rsa_key()
    signer = certificate("Directeur CH Exemple", signer_key, inter, inter_key, eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION], crl_url="http://pki.invalid/inter.crl")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_signer = certificate("RSSI CH Exemple (ECDSA)", ec_key, inter, inter_key, crl_url="http://pki.invalid/inter.crl")
    expired_key = rsa_key()
    expired = certificate("Signataire expiré", expired_key, inter, inter_key, not_before=NOW - 800 * DAY, not_after=NOW - 30 * DAY, crl_url="http://pki.invalid/inter.crl")
    revoked_key = rsa_key()
    revoked = certificate("Signataire révoqué", revoked_key, inter, inter_key, crl_url="http://pki.invalid/inter.crl")
    unknown_key = rsa_key()
    unknown = certificate("Signataire d'une AC inconnue", unknown_key, other_root, other_key)
    # Revoked two days ago too, but signed (and timestamped) ten days ago.
    revoked_later_key = rsa_key()
    revoked_later = certificate("Signataire révoqué après signature", revoked_later_key, inter, inter_key, crl_url="http://pki.invalid/inter.crl")
    # Status by OCSP: one answered good by the intermediate itself, one answered revoked
    # by a responder the intermediate delegated (id-kp-OCSPSigning).
    ocsp_signer_key = rsa_key()
    ocsp_signer = certificate("Signataire vérifié par OCSP", ocsp_signer_key, inter, inter_key, ocsp_url="http://pki.invalid/ocsp")
    ocsp_revoked_key = rsa_key()
    ocsp_revoked = certificate("Signataire révoqué par OCSP", ocsp_revoked_key, inter, inter_key, ocsp_url="http://pki.invalid/ocsp")
    responder_key = rsa_key()
    responder = certificate("Répondeur OCSP de test", responder_key, inter, inter_key, eku=[ExtendedKeyUsageOID.OCSP_SIGNING], ocsp_no_check=True)
    tsa_key = rsa_key()
    tsa = certificate("Horodatage de test", tsa_key, inter, inter_key, eku=[ExtendedKeyUsageOID.TIME_STAMPING], crl_url="http://pki.invalid/inter.crl")

    def crl_of(issuer, key, revoked_serials):
        b = (
            x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(NOW - DAY).next_update(NOW + 30 * DAY)
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        )
        for serial in revoked_serials:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - 2 * DAY).build())
        return b.sign(key, hashes.SHA256())

    root_crl = crl_of(root, root_key, [])
    inter_crl = crl_of(inter, inter_key, [revoked.serial_number, revoked_later.serial_number])

    def ocsp_of(cert, status, responder_cert, key):
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=cert, issuer=inter, algorithm=hashes.SHA1(), cert_status=status, this_update=NOW - DAY, next_update=NOW + 7 * DAY,
            revocation_time=NOW - 2 * DAY if status == ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=x509.ReasonFlags.key_compromise if status == ocsp.OCSPCertStatus.REVOKED else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
        if responder_cert is not inter:
            b = b.certificates([responder_cert])
        return asn1_ocsp.OCSPResponse.load(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))

    good_ocsp = ocsp_of(ocsp_signer, ocsp.OCSPCertStatus.GOOD, inter, inter_key)
    revoked_ocsp = ocsp_of(ocsp_revoked, ocsp.OCSPCertStatus.REVOKED, responder, responder_key)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    (out / "pki/root.pem").write_bytes(pem(root))
    (out / "pki/intermediate.pem").write_bytes(pem(inter))
    (out / "pki/other-root.pem").write_bytes(pem(other_root))
    for n, c in [("signer", signer), ("ec-signer", ec_signer), ("expired", expired), ("revoked", revoked), ("revoked-later", revoked_later), ("ocsp-signer", ocsp_signer), ("ocsp-revoked", ocsp_revoked), ("ocsp-responder", responder), ("unknown", unknown), ("tsa", tsa)]:
        (out / f"pki/{n}.pem").write_bytes(pem(c))
    (out / "pki/root.crl").write_bytes(root_crl.public_bytes(serialization.Encoding.DER))
    (out / "pki/intermediate.crl").write_bytes(inter_crl.public_bytes(serialization.Encoding.DER))

    a_root, a_inter, a_other = to_asn1_cert(root), to_asn1_cert(inter), to_asn1_cert(other_root)
    crls = [asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER)) for c in (root_crl, inter_crl)]
    stamper = timestamps.DummyTimeStamper(tsa_cert=to_asn1_cert(tsa), tsa_key=to_asn1_key(tsa_key), certs_to_embed=SimpleCertificateStore.from_certs([a_inter, a_root]))

    def signer_of(cert, key, chain):
        return signers.SimpleSigner(signing_cert=to_asn1_cert(cert), signing_key=to_asn1_key(key), cert_registry=SimpleCertificateStore.from_certs(chain))

    def vc(trusted, **kw):
        return ValidationContext(trust_roots=trusted, crls=crls, allow_fetching=False, other_certs=[a_inter], **kw)

    def sign(data, who, meta, timestamper=None, new_field=True, certify=None):
        w = IncrementalPdfFileWriter(io.BytesIO(data))
        pdf_signer = signers.PdfSigner(meta, signer=who, timestamper=timestamper, new_field_spec=fields.SigFieldSpec(meta.field_name, box=(300, 700, 500, 760)) if new_field else None)
        buf = io.BytesIO()
        pdf_signer.sign_pdf(w, output=buf)
        return buf.getvalue()

    main_chain = [a_inter, a_root]
    cases = {}
    base = base_pdf("ATTESTATION DE REALISATION - audit de l'annuaire")
    meta = lambda **kw: signers.PdfSignatureMetadata(field_name=kw.pop("field", "Signature1"), md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES, **kw)
    cases["simple.pdf"] = sign(base, signer_of(signer, signer_key, main_chain), meta())
    cases["ecdsa.pdf"] = sign(base, signer_of(ec_signer, ec_key, main_chain), meta())
    cases["horodatee.pdf"] = sign(base, signer_of(signer, signer_key, main_chain), meta(), timestamper=stamper)
    cases["long-terme.pdf"] = sign(base, signer_of(signer, signer_key, main_chain), meta(embed_validation_info=True, validation_context=vc([a_root])), timestamper=stamper)
    cases["archivage.pdf"] = sign(base, signer_of(signer, signer_key, main_chain), meta(embed_validation_info=True, validation_context=vc([a_root]), use_pades_lta=True), timestamper=stamper)
    # Certified (form filling allowed), then the form's empty field signed by another.
    form = base_pdf("ATTESTATION - a contresigner", with_field=True)
    certified = sign(form, signer_of(signer, signer_key, main_chain), meta(certify=True, docmdp_permissions=fields.MDPPerm.FILL_FORMS))
    cases["certifiee-remplie.pdf"] = sign(certified, signer_of(ec_signer, ec_key, main_chain), meta(field="Validation"), new_field=False)
    # Signed, then a page content stream appended in a new revision.
    signed = cases["simple.pdf"]
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0]
    stream = generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 500 Td (MONTANT MODIFIE : 99 999,00 EUR) Tj ET")
    ref = w.add_object(stream)
    page_obj = page.get_object()
    page_obj["/Contents"] = generic.ArrayObject([page_obj.raw_get("/Contents"), ref])
    w.update_container(page_obj)
    buf = io.BytesIO()
    w.write(buf)
    cases["modifiee-apres-signature.pdf"] = buf.getvalue()
    # Signed twice (a second signature field added), then the first signature's
    # appearance stream rewritten in place: what is shown under the first signature is
    # no longer what its signer saw.
    cases["deux-signatures.pdf"] = twice = sign(cases["simple.pdf"], signer_of(ec_signer, ec_key, main_chain), meta(field="Signature2"))
    w = IncrementalPdfFileWriter(io.BytesIO(twice))
    first = next(f.get_object() for f in w.root["/AcroForm"]["/Fields"] if f.get_object()["/T"] == "Signature1")
    ap = first["/AP"].raw_get("/N")
    shown = ap.get_object()
    shown._data, shown._encoded_data = b"BT /F1 18 Tf 10 20 Td (Signe : autre signataire) Tj ET", None
    shown.pop("/Filter", None)
    w.mark_update(ap)
    buf = io.BytesIO()
    w.write(buf)
    cases["apparence-remplacee.pdf"] = buf.getvalue()
    cases["ac-inconnue.pdf"] = sign(base, signer_of(unknown, unknown_key, [a_other]), meta())
    cases["expiree.pdf"] = sign(base, signer_of(expired, expired_key, main_chain), meta())
    # pyhanko refuses to embed revocation data that condemns its own signer: sign, then
    # add the CRLs to /DSS in an update, as a later archiving step would.
    revoked_pdf = sign(base, signer_of(revoked, revoked_key, main_chain), meta(), timestamper=stamper)
    emb = PdfFileReader(io.BytesIO(revoked_pdf)).embedded_signatures[0]
    buf = io.BytesIO(revoked_pdf)
    DocumentSecurityStore.add_dss(buf, emb.pkcs7_content, certs=[to_asn1_cert(revoked), a_inter, a_root], crls=crls)
    cases["revoquee.pdf"] = buf.getvalue()
    # The same archiving step, for a signature a timestamp proves older than the revocation.
    past = NOW - 10 * DAY
    past_stamper = timestamps.DummyTimeStamper(tsa_cert=to_asn1_cert(tsa), tsa_key=to_asn1_key(tsa_key), certs_to_embed=SimpleCertificateStore.from_certs([a_inter, a_root]), fixed_dt=past)
    later_pdf = sign(base, signer_of(revoked_later, revoked_later_key, main_chain), meta(), timestamper=past_stamper)
    emb = PdfFileReader(io.BytesIO(later_pdf)).embedded_signatures[0]
    buf = io.BytesIO(later_pdf)
    DocumentSecurityStore.add_dss(buf, emb.pkcs7_content, certs=[to_asn1_cert(revoked_later), a_inter, a_root], crls=crls)
    cases["revoquee-apres-horodatage.pdf"] = buf.getvalue()
    # B-LT whose signer's status is an OCSP response (the intermediate's status a CRL).
    cases["long-terme-ocsp.pdf"] = sign(
        base, signer_of(ocsp_signer, ocsp_signer_key, main_chain),
        meta(embed_validation_info=True, validation_context=ValidationContext(trust_roots=[a_root], crls=crls, ocsps=[good_ocsp], allow_fetching=False, other_certs=[a_inter])),
        timestamper=stamper,
    )
    ocsp_pdf = sign(base, signer_of(ocsp_revoked, ocsp_revoked_key, main_chain), meta(), timestamper=stamper)
    emb = PdfFileReader(io.BytesIO(ocsp_pdf)).embedded_signatures[0]
    buf = io.BytesIO(ocsp_pdf)
    DocumentSecurityStore.add_dss(buf, emb.pkcs7_content, certs=[to_asn1_cert(ocsp_revoked), to_asn1_cert(responder), a_inter, a_root], ocsps=[revoked_ocsp], crls=crls)
    cases["revoquee-ocsp.pdf"] = buf.getvalue()

    oracle = {}
    for file, data in cases.items():
        (out / file).write_bytes(data)
        oracle[file] = {
            "with_anchor": verdict(data, vc([a_root], ocsps=[good_ocsp, revoked_ocsp]), [a_root]),
            "without_anchor": verdict(data, vc([], ocsps=[good_ocsp, revoked_ocsp]), []),
        }
    (out / "oracle.json").write_text(json.dumps(oracle, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def ades_indication(emb, roots):
    """pyhanko's AdES validation with time (ETSI EN 319 102-1 5.5), from what the file holds."""
    r = emb.reader
    dss = DocumentSecurityStore.read_dss(r) if "/DSS" in r.root else None
    load = lambda ref, purpose: ref.get_object().read_data(purpose)
    crls = [CRLContainer(asn1_crl.CertificateList.load(load(c, DecodePurpose.CRL))) for c in (dss.crls if dss else [])]
    ocsps = [OCSPContainer(asn1_ocsp.OCSPResponse.load(load(o, DecodePurpose.OCSP_RESPONSE))) for o in (dss.ocsps if dss else [])]
    certs = list(dss.load_certs()) if dss else []
    # As pyhanko's plain validation and caregate: revocation data used where the file
    # has it, its absence not a failure.
    rule = RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
    spec = SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=roots),
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(ee_certificate_rule=rule, intermediate_ca_cert_rule=rule)),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=LocalKnowledge(known_crls=crls, known_ocsps=ocsps, known_certs=certs),
    )
    result = asyncio.run(ades_with_time_validation(emb.signed_data, spec, raw_digest=emb.compute_digest()))
    return str(result.ades_subindic)


def verdict(data, context, roots):
    """pyhanko's conclusion on each signature of a PDF, in plain fields."""
    r = PdfFileReader(io.BytesIO(data))
    sigs = []
    for emb in r.embedded_signatures:
        br = [int(x) for x in emb.sig_object["/ByteRange"]]
        end = br[2] + br[3]
        if emb.sig_object.get("/Type") == "/DocTimeStamp":
            st = validate_pdf_timestamp(emb, validation_context=context)
            sigs.append({"field": emb.field_name, "signed_end": end, "document_timestamp": True, "intact": st.intact, "valid": st.valid, "trusted": st.trusted, "coverage": st.coverage.name if st.coverage else None, "modification_level": st.modification_level.name if st.modification_level else None})
            continue
        st = validate_pdf_signature(emb, signer_validation_context=context, ts_validation_context=context)
        sigs.append({
            "field": emb.field_name,
            "signed_end": end,
            "document_timestamp": False,
            "intact": st.intact,
            "valid": st.valid,
            "trusted": st.trusted,
            "revoked": st.revoked,
            "coverage": st.coverage.name if st.coverage else None,
            "modification_level": st.modification_level.name if st.modification_level else None,
            "docmdp_ok": st.docmdp_ok,
            "bottom_line": st.bottom_line,
            "timestamp": st.timestamp_validity is not None,
            "timestamp_trusted": bool(st.timestamp_validity and st.timestamp_validity.trusted),
            "summary": st.summary(),
            "ades": ades_indication(emb, roots),
        })
    return sorted(sigs, key=lambda s: s["signed_end"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

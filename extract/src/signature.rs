//! PDF signatures judged as ETSI EN 319 102-1 (EU DSS) and pyhanko judge them, offline:
//! the signed bytes against the CMS digest, the signature value against the signer's
//! key, the certificate chain to configured trust anchors (rustls-webpki builds the
//! path, checks validity, CA constraints and the CRLs the file carries), RFC 3161
//! timestamps over the signature or the document, and what was appended after the
//! signed revision (pyhanko's modification levels) against what the document permits.
//!
//! Nothing is fetched: revocation data comes from the CMS and the document's `/DSS`
//! only, and a result that needs more says so (`INDETERMINATE`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use caregate_schemas::extracted::{
    Indication, ModificationLevel, PadesLevel, RevocationStatus, SignatureValidation, SubIndication, TimeSource, TimestampCheck,
};
use chrono::{DateTime, TimeZone, Utc};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Tagged};
use lopdf::{Document, LoadOptions, Object, ObjectId};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use sha2::Digest;
use webpki::{
    CertRevocationList, EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, OwnedCertRevocationList, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};
use x509_cert::Certificate;

use crate::ExtractError;

/// Decompressed size allowed per stream when the revisions are compared (as the PDF reader).
const MAX_STREAM: usize = 64 * 1024 * 1024;
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const TIMESTAMP_TOKEN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ADBE_REVOCATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113583.1.1.8");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8), DER content octets.
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// The certificates an archivist trusts (`signatures.trust_anchors`), as DER.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    certs: Vec<Vec<u8>>,
}

impl TrustAnchors {
    /// Reads PEM (or DER) certificates from files, or from every `.pem`, `.crt` and
    /// `.cer` file of a directory.
    pub fn load(paths: &[PathBuf]) -> Result<Self, ExtractError> {
        let mut certs = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "pem" | "crt" | "cer")))
                    .collect();
                files.sort();
                for file in files {
                    certs.extend(read_certificates(&file)?);
                }
            } else {
                certs.extend(read_certificates(path)?);
            }
        }
        Ok(Self { certs })
    }

    pub fn from_der(certs: Vec<Vec<u8>>) -> Self {
        Self { certs }
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn anchors(&self) -> Vec<TrustAnchor<'static>> {
        self.certs.iter().filter_map(|der| webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice())).ok().map(|a| a.to_owned())).collect()
    }
}

fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, ExtractError> {
    let bytes = std::fs::read(path)?;
    let bad = |why: String| ExtractError::Unreadable(format!("trust anchor {}: {why}", path.display()));
    if !bytes.starts_with(b"-----BEGIN") && !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        Certificate::from_der(&bytes).map_err(|e| bad(e.to_string()))?;
        return Ok(vec![bytes]);
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut certs = Vec::new();
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body = block.split("-----END CERTIFICATE-----").next().unwrap_or_default();
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).map_err(|e| bad(e.to_string()))?;
        Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// Validation data a document carries in its `/DSS` (PAdES B-LT).
#[derive(Clone, Debug, Default)]
pub struct Dss {
    pub certs: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
}

impl Dss {
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.crls.is_empty() && self.ocsps.is_empty()
    }
}

/// One signature dictionary, as the PDF reader found it.
pub struct SignatureInput<'a> {
    /// The `/Contents` bytes (DER, zero-padded).
    pub contents: &'a [u8],
    /// The file from its `%PDF-` header, which `/ByteRange` offsets count from.
    pub file: &'a [u8],
    pub byte_range: &'a [i64],
    pub sub_filter: Option<&'a str>,
    pub covers_revision: bool,
    /// `/M`, parsed.
    pub claimed_time: Option<DateTime<Utc>>,
    /// DocMDP permission when this is a certification signature.
    pub certification: Option<u8>,
    /// What was appended after the revision this signature covers.
    pub modification_level: ModificationLevel,
    /// The most a later change may do: the document's certification permission, or
    /// annotations for a document that is not certified.
    pub permitted: ModificationLevel,
    /// A document timestamp was added after this signature (PAdES B-LTA).
    pub later_document_timestamp: bool,
}

/// What a signature is judged against.
pub struct Context<'a> {
    pub anchors: &'a TrustAnchors,
    pub dss: &'a Dss,
    pub now: DateTime<Utc>,
}

/// Accepts any extended key usage: pyhanko and EU DSS do not require one of a signer
/// (qualified certificates rarely carry documentSigning).
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            id?;
        }
        Ok(())
    }
}

fn unix(t: DateTime<Utc>) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.timestamp().max(0) as u64))
}

/// The bytes a `/ByteRange` covers, concatenated lazily into a hasher.
fn ranges<'f>(file: &'f [u8], byte_range: &[i64]) -> Option<Vec<&'f [u8]>> {
    if byte_range.is_empty() || !byte_range.len().is_multiple_of(2) {
        return None;
    }
    byte_range
        .chunks(2)
        .map(|pair| {
            let (start, len) = (usize::try_from(pair[0]).ok()?, usize::try_from(pair[1]).ok()?);
            file.get(start..start.checked_add(len)?)
        })
        .collect()
}

fn digest_of(alg: &ObjectIdentifier, parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = D::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
    Some(match alg.to_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => run::<sha2::Sha256>(parts),
        "2.16.840.1.101.3.4.2.2" => run::<sha2::Sha384>(parts),
        "2.16.840.1.101.3.4.2.3" => run::<sha2::Sha512>(parts),
        _ => return None,
    })
}

/// Signature algorithms that may have produced a signature value, by its algorithm
/// identifiers (a CMS names the digest apart; a certificate, CRL or OCSP response names
/// both in one); the key decides among them.
fn algorithms(signature_alg: &ObjectIdentifier, digest_alg: Option<&ObjectIdentifier>) -> Vec<&'static dyn SignatureVerificationAlgorithm> {
    use webpki::ring as alg;
    let digest = match digest_alg.map(|d| d.to_string()).as_deref().unwrap_or_default() {
        "2.16.840.1.101.3.4.2.1" => 256,
        "2.16.840.1.101.3.4.2.2" => 384,
        "2.16.840.1.101.3.4.2.3" => 512,
        _ => 0,
    };
    match (signature_alg.to_string().as_str(), digest) {
        ("1.2.840.113549.1.1.1", 256) | ("1.2.840.113549.1.1.11", _) => vec![alg::RSA_PKCS1_2048_8192_SHA256, alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS],
        ("1.2.840.113549.1.1.1", 384) | ("1.2.840.113549.1.1.12", _) => vec![alg::RSA_PKCS1_2048_8192_SHA384, alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS],
        ("1.2.840.113549.1.1.1", 512) | ("1.2.840.113549.1.1.13", _) => vec![alg::RSA_PKCS1_2048_8192_SHA512, alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS],
        ("1.2.840.113549.1.1.10", 256) => vec![alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ("1.2.840.113549.1.1.10", 384) => vec![alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ("1.2.840.113549.1.1.10", 512) => vec![alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ("1.2.840.10045.2.1", 256) | ("1.2.840.10045.4.3.2", _) => vec![alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ("1.2.840.10045.2.1", 384) | ("1.2.840.10045.4.3.3", _) => vec![alg::ECDSA_P256_SHA384, alg::ECDSA_P384_SHA384],
        ("1.3.101.112", _) => vec![alg::ED25519],
        _ => Vec::new(),
    }
}

/// Why a CMS signature value did not verify.
enum Crypto {
    Valid,
    Invalid,
    Unsupported,
}

fn verify_value(cert_der: &[u8], si: &SignerInfo, message: &[u8]) -> Crypto {
    let der = CertificateDer::from(cert_der);
    let Ok(ee) = EndEntityCert::try_from(&der) else { return Crypto::Invalid };
    let candidates = algorithms(&si.signature_algorithm.oid, Some(&si.digest_alg.oid));
    if candidates.is_empty() {
        return Crypto::Unsupported;
    }
    let signature = si.signature.as_bytes();
    let mut outcome = Crypto::Unsupported;
    for alg in candidates {
        match ee.verify_signature(alg, message, signature) {
            Ok(()) => return Crypto::Valid,
            Err(webpki::Error::InvalidSignatureForPublicKey) => outcome = Crypto::Invalid,
            Err(_) => {}
        }
    }
    outcome
}

/// The certificates of a SignedData, as DER and parsed.
fn certificates(sd: &SignedData) -> Vec<(Vec<u8>, Certificate)> {
    sd.certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => cert.to_der().ok().map(|der| (der, cert.clone())),
            _ => None,
        })
        .collect()
}

fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = cert.tbs_certificate.extensions.as_ref()?.iter().find(|e| e.extn_id == SUBJECT_KEY_ID)?;
    OctetString::from_der(ext.extn_value.as_bytes()).ok().map(|o| o.as_bytes().to_vec())
}

fn signer_certificate<'c>(si: &SignerInfo, certs: &'c [(Vec<u8>, Certificate)]) -> Option<&'c (Vec<u8>, Certificate)> {
    certs.iter().find(|(_, c)| match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => c.tbs_certificate.issuer == isn.issuer && c.tbs_certificate.serial_number == isn.serial_number,
        SignerIdentifier::SubjectKeyIdentifier(ski) => subject_key_id(c).is_some_and(|id| id == ski.0.as_bytes()),
    })
}

fn attribute(attrs: Option<&x509_cert::attr::Attributes>, oid: ObjectIdentifier) -> Option<&der::Any> {
    attrs?.iter().find(|a| a.oid == oid)?.values.iter().next()
}

/// The signer's key may sign documents: when a key usage is stated, it includes
/// digitalSignature or nonRepudiation (contentCommitment).
fn usable_for_signing(cert: &Certificate) -> bool {
    let Some(ext) = cert.tbs_certificate.extensions.as_ref().and_then(|e| e.iter().find(|e| e.extn_id == KEY_USAGE)) else { return true };
    match x509_cert::ext::pkix::KeyUsage::from_der(ext.extn_value.as_bytes()) {
        Ok(ku) => ku.digital_signature() || ku.non_repudiation(),
        Err(_) => false,
    }
}

/// The certificate's extended key usage includes timeStamping.
fn states_time_stamping(cert: &Certificate) -> bool {
    states_usage(cert, ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8"))
}

/// The certificate's extended key usage includes `usage`.
fn states_usage(cert: &Certificate, usage: ObjectIdentifier) -> bool {
    const EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
    cert.tbs_certificate
        .extensions
        .as_ref()
        .and_then(|e| e.iter().find(|e| e.extn_id == EKU))
        .and_then(|e| x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|eku| eku.0.contains(&usage))
}

/// Subjects from `leaf` up through the certificates at hand, as far as issuers are found.
fn chain_subjects(leaf: &Certificate, pool: &[Certificate]) -> Vec<String> {
    let mut chain = vec![leaf.tbs_certificate.subject.to_string()];
    let mut current = leaf;
    for _ in 0..8 {
        if current.tbs_certificate.issuer == current.tbs_certificate.subject {
            break;
        }
        match pool.iter().find(|c| c.tbs_certificate.subject == current.tbs_certificate.issuer) {
            Some(issuer) => {
                chain.push(issuer.tbs_certificate.subject.to_string());
                current = issuer;
            }
            None => break,
        }
    }
    chain
}

/// The outcome of building a path for one certificate.
struct PathOutcome {
    trusted: bool,
    sub_indication: Option<SubIndication>,
    revocation: RevocationStatus,
    revoked_at: Option<DateTime<Utc>>,
}

impl PathOutcome {
    fn untrusted(sub: SubIndication, revocation: RevocationStatus) -> Self {
        Self { trusted: false, sub_indication: Some(sub), revocation, revoked_at: None }
    }
}

/// Revocation data the file carries, as DER: CRLs and OCSP responses.
#[derive(Clone, Copy)]
struct Revocation<'a> {
    crls: &'a [Vec<u8>],
    ocsps: &'a [Vec<u8>],
}

fn judge_path(
    leaf_der: &[u8],
    leaf: &Certificate,
    intermediates: &[Vec<u8>],
    revocation_data: Revocation<'_>,
    anchors: &TrustAnchors,
    at: DateTime<Utc>,
    time_stamping: bool,
) -> PathOutcome {
    let anchor_list = anchors.anchors();
    let crls: Vec<CertRevocationList<'static>> =
        revocation_data.crls.iter().filter_map(|der| OwnedCertRevocationList::from_der(der).ok().map(CertRevocationList::Owned)).collect();
    if anchor_list.is_empty() {
        return PathOutcome::untrusted(SubIndication::NoCertificateChainFound, RevocationStatus::NotChecked);
    }
    let der = CertificateDer::from(leaf_der);
    let Ok(ee) = EndEntityCert::try_from(&der) else {
        return PathOutcome::untrusted(SubIndication::FormatFailure, RevocationStatus::NotChecked);
    };
    let inter: Vec<CertificateDer<'_>> = intermediates.iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::Chain)
            .with_status_policy(UnknownStatusPolicy::Allow)
            .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
            .build()
    });
    let result = if time_stamping {
        // webpki applies the usage to every certificate of the path; CAs rarely state
        // one, so it is required where stated and the authority's own certificate is
        // checked to state it (RFC 3161 §2.3).
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchor_list,
            &inter,
            unix(at),
            webpki::KeyUsage::required_if_present(TIME_STAMPING),
            revocation,
            None,
        )
        .map(|_| ())
    } else {
        ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &anchor_list, &inter, unix(at), AnyUsage, revocation, None).map(|_| ())
    };
    // The signer's own status: from its issuer's OCSP answer, else from a CRL of its
    // issuer (known when such a CRL is at hand, not merely when nothing lists it).
    let mut issuers: Vec<(Vec<u8>, Certificate)> = Vec::new();
    for d in intermediates.iter().chain(anchors.certs.iter()) {
        if let Ok(c) = Certificate::from_der(d) {
            if c.tbs_certificate.subject == leaf.tbs_certificate.issuer && signed_by(leaf, d) {
                issuers.push((d.clone(), c));
            }
        }
    }
    let ocsp = issuers.iter().find_map(|(d, c)| ocsp_status(leaf, d, c, revocation_data.ocsps));
    let crl = crl_status(leaf, revocation_data.crls);
    let revoked_at = match (ocsp, crl) {
        (Some(Status::Revoked(t)), _) | (_, Some(Status::Revoked(t))) => Some(t),
        _ => None,
    };
    let revocation = match (ocsp, crl) {
        (None, None) => RevocationStatus::NotChecked,
        _ if revoked_at.is_some() => RevocationStatus::Revoked,
        _ => RevocationStatus::Good,
    };
    let revoked = PathOutcome { trusted: false, sub_indication: Some(SubIndication::RevokedNoPoe), revocation: RevocationStatus::Revoked, revoked_at };
    match result {
        // webpki holds the chain; an OCSP answer may still say the signer is revoked.
        Ok(()) if matches!(ocsp, Some(Status::Revoked(_))) => revoked,
        Ok(()) if if time_stamping { !states_time_stamping(leaf) } else { !usable_for_signing(leaf) } => {
            PathOutcome::untrusted(SubIndication::ChainConstraintsFailure, revocation)
        }
        Ok(()) => PathOutcome { trusted: true, sub_indication: None, revocation, revoked_at: None },
        Err(webpki::Error::CertRevoked) => revoked,
        Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => PathOutcome::untrusted(SubIndication::OutOfBoundsNoPoe, revocation),
        Err(webpki::Error::UnknownIssuer) => PathOutcome::untrusted(SubIndication::NoCertificateChainFound, revocation),
        Err(_) => PathOutcome::untrusted(SubIndication::ChainConstraintsFailure, revocation),
    }
}

/// What a CRL or an OCSP response says of one certificate.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Status {
    Good,
    Revoked(DateTime<Utc>),
}

fn chrono_of(t: der::asn1::GeneralizedTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.to_unix_duration().as_secs() as i64, 0)
}

/// `cert`'s signature verifies with the key of the certificate `issuer_der`.
fn signed_by(cert: &Certificate, issuer_der: &[u8]) -> bool {
    let (Ok(tbs), Some(signature)) = (cert.tbs_certificate.to_der(), cert.signature.as_bytes()) else { return false };
    verify_with(issuer_der, &cert.signature_algorithm.oid, &tbs, signature)
}

/// `signature` over `message` verifies with the key of `signer_der`, by an algorithm
/// that names its digest (sha256WithRSAEncryption, ecdsa-with-SHA256...).
fn verify_with(signer_der: &[u8], algorithm: &ObjectIdentifier, message: &[u8], signature: &[u8]) -> bool {
    let der = CertificateDer::from(signer_der);
    let Ok(signer) = EndEntityCert::try_from(&der) else { return false };
    algorithms(algorithm, None).into_iter().any(|alg| signer.verify_signature(alg, message, signature).is_ok())
}

/// The status CRLs of `cert`'s issuer give it. The CRLs' own signatures are webpki's to
/// check on the path; this says only whether one lists `cert`, and since when.
fn crl_status(cert: &Certificate, crls: &[Vec<u8>]) -> Option<Status> {
    let mut status = None;
    for der in crls {
        let Ok(list) = x509_cert::crl::CertificateList::from_der(der) else { continue };
        if list.tbs_cert_list.issuer != cert.tbs_certificate.issuer {
            continue;
        }
        status = Some(Status::Good);
        let listed = list.tbs_cert_list.revoked_certificates.iter().flatten().find(|r| r.serial_number == cert.tbs_certificate.serial_number);
        if let Some(entry) = listed {
            let at = DateTime::<Utc>::from_timestamp(entry.revocation_date.to_unix_duration().as_secs() as i64, 0);
            return at.map(Status::Revoked);
        }
    }
    status
}

/// The status OCSP responses give `cert`, issued by `issuer`. A response counts when it
/// is signed by the issuer itself or by a responder the issuer certified for OCSP
/// signing (RFC 6960 §4.2.2.2), and names `cert` by its issuer's name and key hashes
/// and its serial number. A revocation wins over a good answer.
fn ocsp_status(cert: &Certificate, issuer_der: &[u8], issuer: &Certificate, responses: &[Vec<u8>]) -> Option<Status> {
    const BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
    const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    let name = cert.tbs_certificate.issuer.to_der().ok()?;
    let key = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let mut status = None;
    for der in responses {
        let Ok(response) = x509_ocsp::OcspResponse::from_der(der) else { continue };
        let Some(bytes) = response.response_bytes.filter(|b| b.response_type == BASIC) else { continue };
        let Ok(basic) = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()) else { continue };
        let (Ok(tbs), Some(signature)) = (basic.tbs_response_data.to_der(), basic.signature.as_bytes()) else { continue };
        let alg = &basic.signature_algorithm.oid;
        let by_issuer = verify_with(issuer_der, alg, &tbs, signature);
        let by_delegate = || {
            basic.certs.iter().flatten().any(|responder| {
                responder.tbs_certificate.issuer == issuer.tbs_certificate.subject
                    && states_usage(responder, OCSP_SIGNING)
                    && signed_by(responder, issuer_der)
                    && responder.to_der().is_ok_and(|d| verify_with(&d, alg, &tbs, signature))
            })
        };
        if !by_issuer && !by_delegate() {
            continue;
        }
        for single in &basic.tbs_response_data.responses {
            let id = &single.cert_id;
            let hash = |data: &[u8]| -> Option<Vec<u8>> {
                if id.hash_algorithm.oid == SHA1 {
                    Some(<sha1::Sha1 as Digest>::digest(data).to_vec())
                } else {
                    digest_of(&id.hash_algorithm.oid, &[data])
                }
            };
            let names_cert = id.serial_number == cert.tbs_certificate.serial_number
                && hash(&name).is_some_and(|h| h == id.issuer_name_hash.as_bytes())
                && hash(key).is_some_and(|h| h == id.issuer_key_hash.as_bytes());
            if !names_cert {
                continue;
            }
            match single.cert_status {
                x509_ocsp::CertStatus::Good(_) => status = status.or(Some(Status::Good)),
                x509_ocsp::CertStatus::Revoked(info) => return chrono_of(info.revocation_time.0).map(Status::Revoked),
                x509_ocsp::CertStatus::Unknown(_) => {}
            }
        }
    }
    status
}

/// What caregate needs of an RFC 3161 TSTInfo. Read by hand rather than with a strict
/// DER decoder: time stamping authorities commonly give `genTime` with fractions of a
/// second, which RFC 3161 allows and DER's GeneralizedTime rules reject.
struct TstInfo {
    imprint_algorithm: ObjectIdentifier,
    imprint: Vec<u8>,
    gen_time: DateTime<Utc>,
}

impl TstInfo {
    fn read(der_bytes: &[u8]) -> Option<Self> {
        let fields = der::asn1::SequenceOf::<der::Any, 12>::from_der(der_bytes).ok()?;
        let mut it = fields.iter();
        let (_version, _policy, imprint, _serial, time) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        let imprint = der::asn1::SequenceOf::<der::Any, 2>::from_der(&imprint.to_der().ok()?).ok()?;
        let mut parts = imprint.iter();
        let algorithm = x509_cert::spki::AlgorithmIdentifierOwned::from_der(&parts.next()?.to_der().ok()?).ok()?;
        let hashed = parts.next()?.decode_as::<OctetString>().ok()?;
        if time.tag() != der::Tag::GeneralizedTime {
            return None;
        }
        Some(Self { imprint_algorithm: algorithm.oid, imprint: hashed.as_bytes().to_vec(), gen_time: generalized_time(time.value())? })
    }
}

/// `YYYYMMDDHHMMSS[.fff]Z`.
fn generalized_time(value: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(value).ok()?;
    let text = text.strip_suffix('Z')?;
    let (whole, _fraction) = text.split_once('.').unwrap_or((text, ""));
    chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S").ok().map(|t| t.and_utc())
}

/// A timestamp token (a CMS SignedData over a TSTInfo) checked against what it stamps.
/// Also says whether its imprint is the digest of what it stamps (`None`: the token
/// could not be read that far).
fn check_timestamp(
    token: &[u8],
    stamped: &[&[u8]],
    extra_certs: &[Vec<u8>],
    revocation: Revocation<'_>,
    anchors: &TrustAnchors,
) -> (TimestampCheck, Option<bool>) {
    let mut check = TimestampCheck { intact: false, trusted: false, time: None, authority: None };
    let Some(sd) =
        der::SliceReader::new(token).ok().and_then(|mut r| ContentInfo::decode(&mut r).ok()).and_then(|ci| ci.content.decode_as::<SignedData>().ok())
    else {
        return (check, None);
    };
    if sd.encap_content_info.econtent_type != TST_INFO {
        return (check, None);
    }
    let Some(content) = sd.encap_content_info.econtent.as_ref().and_then(|c| c.decode_as::<OctetString>().ok()) else { return (check, None) };
    let Some(tst) = TstInfo::read(content.as_bytes()) else { return (check, None) };
    check.time = Some(tst.gen_time);
    let imprint_ok = digest_of(&tst.imprint_algorithm, stamped).is_some_and(|d| d == tst.imprint);
    let imprint = Some(imprint_ok);
    let Some(si) = sd.signer_infos.0.iter().next() else { return (check, imprint) };
    let certs = certificates(&sd);
    let Some((tsa_der, tsa)) = signer_certificate(si, &certs) else { return (check, imprint) };
    check.authority = Some(tsa.tbs_certificate.subject.to_string());
    let content_ok = attribute(si.signed_attrs.as_ref(), MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .is_some_and(|stated| digest_of(&si.digest_alg.oid, &[content.as_bytes()]).is_some_and(|d| d == stated.as_bytes()));
    let value_ok = si.signed_attrs.as_ref().and_then(|a| a.to_der().ok()).is_some_and(|signed| matches!(verify_value(tsa_der, si, &signed), Crypto::Valid));
    check.intact = imprint_ok && content_ok && value_ok;
    if check.intact {
        let mut pool: Vec<Vec<u8>> = certs.iter().map(|(d, _)| d.clone()).collect();
        pool.extend(extra_certs.iter().cloned());
        let at = check.time.unwrap_or_else(Utc::now);
        check.trusted = judge_path(tsa_der, tsa, &pool, revocation, anchors, at, true).trusted;
    }
    (check, imprint)
}

/// Revocation data the CMS carries: CRLs in its `crls` set, CRLs and OCSP responses in Adobe's revocationInfoArchival signed attribute (`[0] SEQUENCE OF
/// CertificateList, [1] SEQUENCE OF OCSPResponse`).
fn cms_revocation(sd: &SignedData, si: &SignerInfo) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut crls, mut ocsps) = (Vec::new(), Vec::new());
    for choice in sd.crls.iter().flat_map(|set| set.0.iter()) {
        match choice {
            cms::revocation::RevocationInfoChoice::Crl(crl) => crls.extend(crl.to_der().ok()),
            // RFC 5940's OCSP responses here are not read: cms 0.2 models
            // OtherRevocationInfoFormat's identifier as an AlgorithmIdentifier.
            cms::revocation::RevocationInfoChoice::Other(_) => {}
        }
    }
    if let Some(archival) = attribute(si.signed_attrs.as_ref(), ADBE_REVOCATION) {
        if let Ok(seq) = archival.decode_as::<der::asn1::SequenceOf<der::Any, 3>>() {
            for item in seq.iter() {
                let into = match item.tag() {
                    der::Tag::ContextSpecific { constructed: true, number: der::TagNumber::N0 } => &mut crls,
                    der::Tag::ContextSpecific { constructed: true, number: der::TagNumber::N1 } => &mut ocsps,
                    _ => continue,
                };
                if let Ok(list) = der::asn1::SequenceOf::<der::Any, 16>::from_der(item.value()) {
                    into.extend(list.iter().filter_map(|c| c.to_der().ok()));
                }
            }
        }
    }
    (crls, ocsps)
}

fn failed(sub: SubIndication, ctx: &Context<'_>, input: &SignatureInput<'_>) -> SignatureValidation {
    SignatureValidation {
        indication: Indication::TotalFailed,
        sub_indication: Some(sub),
        intact: false,
        trusted: false,
        chain: Vec::new(),
        revocation: RevocationStatus::NotChecked,
        revoked_at: None,
        time_source: if input.claimed_time.is_some() { TimeSource::Claimed } else { TimeSource::Unknown },
        judged_at: ctx.now,
        timestamp: None,
        pades_level: None,
        modification_level: input.modification_level,
        certification: input.certification,
        modifications_permitted: input.modification_level <= input.permitted,
        validated_at: ctx.now,
        trust_anchors: ctx.anchors.len(),
    }
}

/// A signature's validation, and whether its signed bytes hash to the digest it
/// carries (a document timestamp: to its imprint); `None` when the CMS could not be
/// read that far or its digest algorithm is not supported.
pub struct Validated {
    pub validation: SignatureValidation,
    pub digest_valid: Option<bool>,
}

/// Validates one signature (or document timestamp).
pub fn validate(input: &SignatureInput<'_>, ctx: &Context<'_>) -> Validated {
    let signed_end = input.byte_range.get(2).zip(input.byte_range.get(3)).and_then(|(a, b)| usize::try_from(a + b).ok());
    // The grading of what was appended judges by kind of object (a widget's appearance is
    // form filling); pyhanko also refuses what the signer saw being rewritten in place, and
    // bytes that are no revision, whatever the document permits.
    let forbidden = input.covers_revision && signed_end.is_some_and(|end| end < input.file.len() && forbidden_after(input.file, end));
    let input = &SignatureInput { modification_level: if forbidden { ModificationLevel::Other } else { input.modification_level }, ..*input };
    let mut digest_valid = None;
    let mut validation = judge(input, ctx, &mut digest_valid);
    // A change the document does not permit fails the signature even where its
    // cryptography could not be judged (an unsupported digest, no signer certificate).
    if !validation.modifications_permitted && validation.indication != Indication::TotalFailed {
        (validation.indication, validation.sub_indication) = (Indication::TotalFailed, Some(SubIndication::FormatFailure));
    }
    Validated { validation, digest_valid }
}

fn judge(input: &SignatureInput<'_>, ctx: &Context<'_>, digest_valid: &mut Option<bool>) -> SignatureValidation {
    let Some(signed) = ranges(input.file, input.byte_range).filter(|_| input.covers_revision) else {
        return failed(SubIndication::FormatFailure, ctx, input);
    };
    if input.sub_filter == Some("ETSI.RFC3161") {
        return validate_document_timestamp(input, ctx, &signed, digest_valid);
    }
    let Some(sd) =
        der::SliceReader::new(input.contents).ok().and_then(|mut r| ContentInfo::decode(&mut r).ok()).and_then(|ci| ci.content.decode_as::<SignedData>().ok())
    else {
        return failed(SubIndication::FormatFailure, ctx, input);
    };
    let Some(si) = sd.signer_infos.0.iter().next() else { return failed(SubIndication::FormatFailure, ctx, input) };
    let certs = certificates(&sd);
    let mut out = failed(SubIndication::FormatFailure, ctx, input);
    let claimed = attribute(si.signed_attrs.as_ref(), SIGNING_TIME)
        .and_then(|v| v.to_der().ok())
        .and_then(|der| x509_cert::time::Time::from_der(&der).ok())
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.to_unix_duration().as_secs() as i64, 0))
        .or(input.claimed_time);
    out.time_source = if claimed.is_some() { TimeSource::Claimed } else { TimeSource::Unknown };
    // The digest first: whether the bytes are the ones signed does not depend on who
    // signed them.
    let stated = attribute(si.signed_attrs.as_ref(), MESSAGE_DIGEST).and_then(|v| v.decode_as::<OctetString>().ok());
    *digest_valid = digest_of(&si.digest_alg.oid, &signed).map(|computed| stated.is_some_and(|stated| stated.as_bytes() == computed.as_slice()));
    let Some((signer_der, signer)) = signer_certificate(si, &certs) else {
        out.indication = Indication::Indeterminate;
        out.sub_indication = Some(SubIndication::NoSigningCertificateFound);
        return out;
    };
    let mut pool: Vec<Certificate> = certs.iter().map(|(_, c)| c.clone()).collect();
    pool.extend(ctx.dss.certs.iter().filter_map(|d| Certificate::from_der(d).ok()));
    pool.extend(ctx.anchors.certs.iter().filter_map(|d| Certificate::from_der(d).ok()));
    out.chain = chain_subjects(signer, &pool);

    match *digest_valid {
        Some(true) => {}
        Some(false) => {
            out.sub_indication = Some(SubIndication::HashFailure);
            return out;
        }
        None => {
            out.indication = Indication::Indeterminate;
            out.sub_indication = Some(SubIndication::CryptoConstraintsFailureNoPoe);
            return out;
        }
    }
    let Some(signed_attrs) = si.signed_attrs.as_ref().and_then(|a| a.to_der().ok()) else { return out };
    match verify_value(signer_der, si, &signed_attrs) {
        Crypto::Valid => {}
        Crypto::Invalid => {
            out.sub_indication = Some(SubIndication::SigCryptoFailure);
            return out;
        }
        Crypto::Unsupported => {
            out.indication = Indication::Indeterminate;
            out.sub_indication = Some(SubIndication::CryptoConstraintsFailureNoPoe);
            return out;
        }
    }
    out.intact = true;

    let mut intermediates: Vec<Vec<u8>> = certs.iter().map(|(d, _)| d.clone()).collect();
    intermediates.extend(ctx.dss.certs.iter().cloned());
    let (mut crls, mut ocsps) = cms_revocation(&sd, si);
    crls.extend(ctx.dss.crls.iter().cloned());
    ocsps.extend(ctx.dss.ocsps.iter().cloned());
    let revocation = Revocation { crls: &crls, ocsps: &ocsps };
    let timestamp = attribute(si.unsigned_attrs.as_ref(), TIMESTAMP_TOKEN)
        .and_then(|v| v.to_der().ok())
        .map(|token| check_timestamp(&token, &[si.signature.as_bytes()], &intermediates, revocation, ctx.anchors).0);
    let proven = timestamp.as_ref().filter(|t| t.intact && t.trusted).and_then(|t| t.time);
    if proven.is_some() {
        out.time_source = TimeSource::Timestamp;
    }
    // The chain is judged now; where it no longer holds because a certificate expired,
    // a trusted timestamp from before the expiry proves the signature existed while it
    // was valid.
    let mut path = judge_path(signer_der, signer, &intermediates, revocation, ctx.anchors, ctx.now, false);
    if let (Some(SubIndication::OutOfBoundsNoPoe), Some(at)) = (path.sub_indication, proven) {
        path = judge_path(signer_der, signer, &intermediates, revocation, ctx.anchors, at, false);
        out.judged_at = at;
    }
    // Revoked since a date a trusted timestamp proves the signature older than: the
    // signature was made while the certificate held (ETSI EN 319 102-1 §5.6.2.4), so the
    // chain is judged at that time, without the signer's own revocation entry.
    if let (Some(SubIndication::RevokedNoPoe), Some(at), Some(revoked_at)) = (path.sub_indication, proven, path.revoked_at) {
        if at < revoked_at {
            let others: Vec<Vec<u8>> = crls
                .iter()
                .filter(|d| x509_cert::crl::CertificateList::from_der(d).is_ok_and(|c| c.tbs_cert_list.issuer != signer.tbs_certificate.issuer))
                .cloned()
                .collect();
            let before = judge_path(signer_der, signer, &intermediates, Revocation { crls: &others, ocsps: &[] }, ctx.anchors, at, false);
            if before.trusted {
                path = PathOutcome { revocation: RevocationStatus::Revoked, revoked_at: Some(revoked_at), ..before };
                out.judged_at = at;
            }
        }
    }
    out.trusted = path.trusted;
    out.revocation = path.revocation;
    out.revoked_at = path.revoked_at;
    out.pades_level = pades_level(input, timestamp.is_some(), !ctx.dss.is_empty());
    out.timestamp = timestamp;
    out.modifications_permitted = input.modification_level <= input.permitted;
    (out.indication, out.sub_indication) = if !out.modifications_permitted {
        (Indication::TotalFailed, Some(SubIndication::FormatFailure))
    } else if path.sub_indication == Some(SubIndication::RevokedNoPoe) && proven.is_none() {
        (Indication::Indeterminate, path.sub_indication)
    } else if let Some(sub) = path.sub_indication {
        (Indication::Indeterminate, Some(sub))
    } else {
        (Indication::TotalPassed, None)
    };
    out
}

fn pades_level(input: &SignatureInput<'_>, timestamped: bool, dss: bool) -> Option<PadesLevel> {
    if input.sub_filter != Some("ETSI.CAdES.detached") {
        return None;
    }
    Some(match (timestamped, dss, input.later_document_timestamp) {
        (true, true, true) => PadesLevel::BLta,
        (true, true, false) => PadesLevel::BLt,
        (true, false, _) => PadesLevel::BT,
        (false, _, _) => PadesLevel::BB,
    })
}

fn validate_document_timestamp(input: &SignatureInput<'_>, ctx: &Context<'_>, signed: &[&[u8]], digest_valid: &mut Option<bool>) -> SignatureValidation {
    let mut out = failed(SubIndication::FormatFailure, ctx, input);
    // The imprint of a document timestamp is the digest of the signed ranges.
    let (check, imprint) = check_timestamp(input.contents, signed, &ctx.dss.certs, Revocation { crls: &ctx.dss.crls, ocsps: &ctx.dss.ocsps }, ctx.anchors);
    *digest_valid = imprint;
    out.intact = check.intact;
    out.trusted = check.trusted;
    if let Some(tsa) = &check.authority {
        out.chain = vec![tsa.clone()];
    }
    if let Some(t) = check.time.filter(|_| check.intact) {
        out.time_source = TimeSource::Timestamp;
        out.judged_at = t;
    }
    (out.indication, out.sub_indication) = match (check.intact, check.trusted, out.modifications_permitted) {
        (false, _, _) => (Indication::TotalFailed, Some(SubIndication::HashFailure)),
        (true, _, false) => (Indication::TotalFailed, Some(SubIndication::FormatFailure)),
        (true, false, true) => (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)),
        (true, true, true) => (Indication::TotalPassed, None),
    };
    out.timestamp = Some(check);
    out
}

/// Streams any update may rewrite in place: the file's own bookkeeping (cross-reference
/// and object streams) and its XMP metadata.
fn bookkeeping(dict: &lopdf::Dictionary) -> bool {
    matches!(dict.get(b"Type").and_then(Object::as_name), Ok(b"XRef" | b"ObjStm" | b"Metadata"))
}

/// Whether what follows the first `signed_end` bytes of `file` is something pyhanko's
/// difference analysis refuses whatever the document permits: bytes that are not
/// incremental updates; an object of a field already signed changed (its widget, its
/// appearance, its value); a stream that existed at signing time rewritten in place
/// (page content, an XObject, an appearance) unless it is the appearance of one field
/// still open to filling, used nowhere else, that the update fills; any other object the
/// signer saw rewritten but the document's structure (catalog, pages, form, fields,
/// annotations, `/DSS`), which the grading by kind of change judges.
fn forbidden_after(file: &[u8], signed_end: usize) -> bool {
    let Some(tail) = file.get(signed_end..) else { return true };
    // Each update ends on its own `%%EOF` after its `startxref`; anything else after the
    // signed revision is bytes no reader shows as a revision.
    let tail = tail.trim_ascii();
    if !tail.is_empty() {
        if !tail.ends_with(b"%%EOF") {
            return true;
        }
        let mut rest = tail;
        while let Some(at) = find(rest, b"%%EOF") {
            if find(&rest[..at], b"startxref").is_none() {
                return true;
            }
            rest = &rest[at + 5..];
        }
    }
    let options = || LoadOptions { max_decompressed_size: Some(MAX_STREAM), ..LoadOptions::default() };
    let (Ok(old), Ok(new)) = (Document::load_mem_with_options(&file[..signed_end], options()), Document::load_mem_with_options(file, options())) else {
        // Said by the grading already (an unreadable revision is "other").
        return false;
    };
    let dict_in = |doc: &Document, id: ObjectId| -> Option<lopdf::Dictionary> {
        match doc.get_object(id).ok()? {
            Object::Dictionary(d) => Some(d.clone()),
            Object::Stream(s) => Some(s.dict.clone()),
            _ => None,
        }
    };
    // A field's type and value may sit on its parent (a widget kid of a field).
    let inherited = |doc: &Document, id: ObjectId, key: &[u8]| -> Option<Object> {
        let mut at = dict_in(doc, id)?;
        for _ in 0..8 {
            if let Ok(v) = at.get(key) {
                return Some(v.clone());
            }
            at = dict_in(doc, at.get(b"Parent").and_then(Object::as_reference).ok()?)?;
        }
        None
    };
    let is_sig = |doc: &Document, id: ObjectId| inherited(doc, id, b"FT").is_some_and(|t| t.as_name().ok() == Some(b"Sig"));
    let signed = |doc: &Document, id: ObjectId| is_sig(doc, id) && inherited(doc, id, b"V").is_some_and(|v| !matches!(v, Object::Null));
    let mut uses: HashMap<ObjectId, usize> = HashMap::new();
    for obj in old.objects.values() {
        count_references(obj, &mut uses, 0);
    }
    // Appearances at signing time: each stream (and indirect /AP dictionary) with the
    // fields that show it, whether it is one state of several (/AS), and what belongs
    // to a field already signed.
    let mut shown_by: HashMap<ObjectId, Vec<(ObjectId, bool)>> = HashMap::new();
    let mut locked: HashSet<ObjectId> = HashSet::new();
    for (&id, obj) in &old.objects {
        let Some(d) = (match obj {
            Object::Dictionary(d) => Some(d),
            _ => None,
        }) else {
            continue;
        };
        let widget = d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget");
        if !widget && !d.has(b"FT") {
            continue;
        }
        let is_locked = signed(&old, id);
        if is_locked {
            locked.insert(id);
            locked.extend(d.get(b"Parent").and_then(Object::as_reference).ok());
            locked.extend(inherited(&old, id, b"V").and_then(|v| v.as_reference().ok()));
        }
        let Ok(ap) = d.get(b"AP") else { continue };
        let ap_id = ap.as_reference().ok();
        let Some(ap) = (match ap {
            Object::Reference(r) => old.get_dictionary(*r).ok(),
            Object::Dictionary(a) => Some(a),
            _ => None,
        }) else {
            continue;
        };
        let stateful = d.has(b"AS");
        let mut streams: Vec<ObjectId> = ap_id.into_iter().collect();
        for key in [&b"N"[..], b"R", b"D"] {
            match ap.get(key) {
                Ok(Object::Reference(r)) => streams.push(*r),
                Ok(Object::Dictionary(states)) => streams.extend(states.iter().filter_map(|(_, v)| v.as_reference().ok())),
                _ => {}
            }
        }
        for s in streams {
            shown_by.entry(s).or_default().push((id, stateful));
            if is_locked {
                locked.insert(s);
            }
        }
    }
    // Dictionaries and arrays an update may rewrite, graded then by what changed in them:
    // the catalog and document information, pages (their /Annots), the form and its
    // fields and widgets, annotations, the /DSS; an object anything else uses (a font
    // of the form's /DR and of an appearance, a resource, an XObject) is not one.
    let mut rewritable: HashSet<ObjectId> = HashSet::new();
    for doc in [&old, &new] {
        for key in [&b"Root"[..], b"Info"] {
            rewritable.extend(doc.trailer.get(key).and_then(Object::as_reference).ok());
        }
        let Ok(catalog) = doc.catalog() else { continue };
        if let Ok(dss) = catalog.get(b"DSS") {
            crate::pdf::reachable(doc, dss, &mut rewritable);
        }
        if let Ok(form) = catalog.get(b"AcroForm") {
            rewritable.extend(form.as_reference().ok());
            let form = match form {
                Object::Reference(r) => doc.get_dictionary(*r).ok(),
                Object::Dictionary(d) => Some(d),
                _ => None,
            };
            rewritable.extend(form.and_then(|f| f.get(b"Fields").ok()).and_then(|f| f.as_reference().ok()));
        }
    }
    for (&id, obj) in &old.objects {
        let Object::Dictionary(d) = obj else { continue };
        let page = d.get(b"Type").and_then(Object::as_name).ok() == Some(b"Page");
        let field = d.has(b"FT") || d.has(b"T") || d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget");
        let annotation = d.has(b"Subtype") && d.has(b"Rect");
        if page || field || annotation {
            rewritable.insert(id);
            for key in [&b"Annots"[..], b"Kids"] {
                rewritable.extend(d.get(key).and_then(Object::as_reference).ok());
            }
        }
    }
    old.objects.iter().any(|(id, before)| {
        let Some(after) = new.objects.get(id).filter(|after| *after != before) else { return false };
        if locked.contains(id) {
            return true;
        }
        let appearance_of = match shown_by.get(id).map(Vec::as_slice) {
            Some(&[(field, false)]) if uses.get(id) == Some(&1) => Some(field),
            _ => None,
        };
        // An empty signature field gets its appearance when it is signed; another field
        // when it is filled.
        let filled = appearance_of.is_some_and(|field| !is_sig(&old, field) || signed(&new, field));
        match before {
            Object::Stream(stream) if bookkeeping(&stream.dict) => false,
            Object::Stream(_) => !filled || !matches!(after, Object::Stream(_)),
            _ if rewritable.contains(id) => false,
            // An indirect /AP dictionary of the field being filled.
            Object::Dictionary(_) => !filled,
            _ => true,
        }
    })
}

fn count_references(obj: &Object, uses: &mut HashMap<ObjectId, usize>, depth: usize) {
    if depth > 32 {
        return;
    }
    match obj {
        Object::Reference(r) => *uses.entry(*r).or_default() += 1,
        Object::Array(items) => items.iter().for_each(|i| count_references(i, uses, depth + 1)),
        Object::Dictionary(d) => d.iter().for_each(|(_, v)| count_references(v, uses, depth + 1)),
        Object::Stream(s) => s.dict.iter().for_each(|(_, v)| count_references(v, uses, depth + 1)),
        _ => {}
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `D:YYYYMMDDHHmmSS+HH'mm'` (PDF dates), as far as it goes.
pub fn pdf_date(text: &str) -> Option<DateTime<Utc>> {
    let s = text.strip_prefix("D:").unwrap_or(text);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let num = |a: usize, b: usize, default: u32| digits.get(a..b).and_then(|d| d.parse().ok()).unwrap_or(default);
    if digits.len() < 4 {
        return None;
    }
    let local = chrono::NaiveDate::from_ymd_opt(num(0, 4, 0) as i32, num(4, 6, 1), num(6, 8, 1))?.and_hms_opt(num(8, 10, 0), num(10, 12, 0), num(12, 14, 0))?;
    let rest = &s[digits.len()..];
    let offset_secs = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let tz: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i32 = tz.get(0..2).and_then(|d| d.parse().ok()).unwrap_or(0);
            let m: i32 = tz.get(2..4).and_then(|d| d.parse().ok()).unwrap_or(0);
            let secs = h * 3600 + m * 60;
            if sign == '-' {
                -secs
            } else {
                secs
            }
        }
        _ => 0,
    };
    chrono::FixedOffset::east_opt(offset_secs)?.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends a revision holding `objects` (number, body) to `base` (empty: a new file),
    /// with its own cross-reference section, as an incremental update.
    fn revision(base: &[u8], objects: &[(u32, &str)]) -> Vec<u8> {
        let mut out = if base.is_empty() { b"%PDF-1.7\n".to_vec() } else { base.to_vec() };
        let prev = base.windows(9).rposition(|w| w == b"startxref").map(|at| {
            let digits: String = base[at + 9..].iter().map(|&b| b as char).skip_while(|c| c.is_whitespace()).take_while(char::is_ascii_digit).collect();
            digits
        });
        let mut offsets = Vec::new();
        for (n, body) in objects {
            offsets.push((*n, out.len()));
            out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
        for (n, at) in offsets {
            out.extend_from_slice(format!("{n} 1\n{at:010} 00000 n \n").as_bytes());
        }
        let prev = prev.map(|p| format!(" /Prev {p}")).unwrap_or_default();
        out.extend_from_slice(format!("trailer\n<< /Size 20 /Root 1 0 R{prev} >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
        out
    }

    fn stream(content: &str) -> String {
        format!("<< /Type /XObject /Subtype /Form /BBox [0 0 200 60] /Length {} >>\nstream\n{content}\nendstream", content.len())
    }

    /// A page with a signature field signed (its appearance 7) and a text field (its
    /// appearance 9), the form's font 10: the revision a signature covers.
    fn signed() -> Vec<u8> {
        revision(
            b"",
            &[
                (1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R 8 0 R] /SigFlags 3 /DR << /Font << /Helv 10 0 R >> >> >> >>"),
                (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
                (3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [5 0 R 8 0 R] >>"),
                (4, &stream("BT /F1 14 Tf 72 760 Td (ATTESTATION) Tj ET")),
                (5, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /Rect [300 700 500 760] /P 3 0 R /V 6 0 R /AP << /N 7 0 R >> >>"),
                (6, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 0 0 0] /Contents <00> >>"),
                (7, &stream("BT (Signe : Directeur) Tj ET")),
                (8, "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Montant) /Rect [72 600 272 640] /P 3 0 R /AP << /N 9 0 R >> >>"),
                (9, &stream("")),
                (10, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
            ],
        )
    }

    #[test]
    fn changes_pyhanko_refuses_after_a_signature() {
        let base = signed();
        let end = base.len();
        // The signed appearance drawn again under the same object number.
        let overridden = revision(&base, &[(7, &stream("BT (Signe : un autre) Tj ET"))]);
        assert!(forbidden_after(&overridden, end));
        // The page's content stream rewritten.
        assert!(forbidden_after(&revision(&base, &[(4, &stream("BT (MONTANT MODIFIE) Tj ET"))]), end));
        // The signed field pointed at another appearance.
        let repointed = "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /Rect [300 700 500 760] /P 3 0 R /V 6 0 R /AP << /N 10 0 R >> >>";
        assert!(forbidden_after(&revision(&base, &[(10, &stream("BT (autre) Tj ET")), (5, repointed)]), end));
        // The form's font redefined (digitorus' multi.pdf: what a later signer's tool did).
        assert!(forbidden_after(&revision(&base, &[(10, "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")]), end));
        // Bytes after the signed revision that are no revision.
        let mut trailing = base.clone();
        trailing.extend_from_slice(b"\n% MONTANT MODIFIE : 99 999,00 EUR\n");
        assert!(forbidden_after(&trailing, end));
        let mut half = base.clone();
        half.extend_from_slice(b"7 0 obj\n<< >>\nendobj\n%%EOF\n");
        assert!(forbidden_after(&half, end));
    }

    #[test]
    fn form_filling_and_bookkeeping_are_not_refused() {
        let base = signed();
        let end = base.len();
        // Read as a PDF at all, or nothing below would be compared.
        assert_eq!(Document::load_mem(&base).map(|d| d.objects.len()).ok(), Some(10));
        assert!(!forbidden_after(&base, end));
        // The text field filled: its value set and its own appearance drawn in place.
        let filled = "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Montant) /Rect [72 600 272 640] /P 3 0 R /V (1 200,00) /AP << /N 9 0 R >> >>";
        assert!(!forbidden_after(&revision(&base, &[(8, filled), (9, &stream("BT (1 200,00) Tj ET"))]), end));
        // Document information and trailing line ends.
        let mut info = revision(&base, &[(11, "<< /Producer (caregate test) >>")]);
        assert!(!forbidden_after(&info, end));
        info.extend_from_slice(b"\r\n");
        assert!(!forbidden_after(&info, end));
    }

    #[test]
    fn a_forbidden_change_fails_the_signature() {
        let base = signed();
        let overridden = revision(&base, &[(7, &stream("BT (Signe : un autre) Tj ET"))]);
        let range = [0, 10, 20, base.len() as i64 - 20];
        let input = SignatureInput {
            contents: b"",
            file: &overridden,
            byte_range: &range,
            sub_filter: Some("ETSI.CAdES.detached"),
            covers_revision: true,
            claimed_time: None,
            certification: None,
            // What the grading by kind of object says: a widget's appearance redrawn.
            modification_level: ModificationLevel::FormFilling,
            permitted: ModificationLevel::Annotations,
            later_document_timestamp: false,
        };
        let anchors = TrustAnchors::from_der(Vec::new());
        let dss = Dss::default();
        let v = validate(&input, &Context { anchors: &anchors, dss: &dss, now: Utc::now() }).validation;
        assert_eq!(v.modification_level, ModificationLevel::Other);
        assert!(!v.modifications_permitted);
        assert_eq!(v.indication, Indication::TotalFailed);
    }
}

//! An upload's multipart body, read with limits on everything a client controls: each
//! text field's length, the bytes between two parts' contents (where a part's header
//! block is buffered whole), the whole request, and its pace.
//!
//! multer (what axum's `Multipart` wraps) is used directly for its per-field limits; it
//! buffers a part's header block until the blank line however long it is, hence the
//! [`Progress`] count around the body stream: bytes read since the handler last received
//! a part or a chunk of one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderMap;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::intake::{IntakeConfig, IntakeError};

/// The form's text fields; anything else is refused before its content is read.
pub const TEXT_FIELDS: [&str; 7] = ["establishment", "campaign", "submission_id", "objective", "category", "establishment_siret", "establishment_siren"];

/// How long an upload runs before its average pace is held to
/// [`IntakeConfig::min_upload_bytes_per_sec`].
const PACE_GRACE: Duration = Duration::from_secs(60);

/// Why the body stream was cut, as carried through multer's error back to us.
#[derive(Debug, thiserror::Error)]
enum Cut {
    #[error("plus de {0} octets reçus sans qu'une partie du formulaire commence : en-têtes de partie trop longs")]
    PartHeaders(u64),
    #[error("moins de {0} octets par seconde en moyenne")]
    TooSlow(u64),
}

/// Bytes read from the body since the handler last received something of the form.
#[derive(Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// The handler received a part, or a chunk of one.
    pub fn advanced(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// The multipart reader of an upload request, with the intake's limits.
pub fn multipart(headers: &HeaderMap, body: Body, config: &IntakeConfig) -> Result<(multer::Multipart<'static>, Progress), IntakeError> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| IntakeError::Malformed("expected a multipart/form-data body with its boundary".into()))?;
    let mut sizes = multer::SizeLimit::new().whole_stream(config.max_request_bytes).per_field(config.max_file_bytes);
    for name in TEXT_FIELDS {
        sizes = sizes.for_field(name, config.max_field_bytes);
    }
    sizes = sizes.for_field(crate::guard::CSRF_FIELD, config.max_field_bytes);
    let mut allowed: Vec<&str> = TEXT_FIELDS.to_vec();
    // The token of the establishments' plain upload form, checked by the handler.
    allowed.extend(["file", crate::guard::CSRF_FIELD]);
    let constraints = multer::Constraints::new().allowed_fields(allowed).size_limit(sizes);
    let progress = Progress::default();
    let stream = guarded(body, progress.clone(), config.max_part_header_bytes, config.min_upload_bytes_per_sec);
    Ok((multer::Multipart::with_constraints(stream, boundary, constraints), progress))
}

/// The body as a stream of chunks, cut when too many bytes pass with nothing received
/// by the handler, or when the average pace falls under `min_rate` after the grace.
fn guarded(body: Body, progress: Progress, max_gap: u64, min_rate: u64) -> impl Stream<Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>> {
    let started = Instant::now();
    let mut total = 0u64;
    let mut cut = false;
    body.into_data_stream().map(move |chunk| {
        if cut {
            return Err(Box::new(Cut::PartHeaders(max_gap)) as Box<dyn std::error::Error + Send + Sync>);
        }
        let chunk = chunk.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        total += chunk.len() as u64;
        let gap = progress.0.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        // One chunk may carry the end of a part and the next one's headers: the
        // allowance is the limit plus the chunk that crossed it.
        if gap > max_gap + chunk.len() as u64 {
            cut = true;
            return Err(Box::new(Cut::PartHeaders(max_gap)));
        }
        let elapsed = started.elapsed();
        if elapsed > PACE_GRACE && total < min_rate.saturating_mul(elapsed.as_secs()) {
            cut = true;
            return Err(Box::new(Cut::TooSlow(min_rate)));
        }
        Ok(chunk)
    })
}

/// A multipart failure as the intake's error: over a limit, cut, stalled, or malformed.
pub fn error(e: multer::Error) -> IntakeError {
    use multer::Error as E;
    match e {
        E::FieldSizeExceeded { limit, field_name } => match field_name.as_deref() {
            Some(name) if TEXT_FIELDS.contains(&name) => IntakeError::Invalid { field: text_field(name), reason: format!("longer than {limit} bytes") },
            _ => IntakeError::TooLarge { limit },
        },
        E::StreamSizeExceeded { .. } => IntakeError::RequestTooLarge,
        E::UnknownField { field_name } => IntakeError::Malformed(format!("unexpected field {:?}", field_name.unwrap_or_default())),
        E::StreamReadFailed(source) => {
            if let Some(cut) = source.downcast_ref::<Cut>() {
                return match cut {
                    Cut::PartHeaders(_) => IntakeError::Malformed(cut.to_string()),
                    Cut::TooSlow(_) => IntakeError::Stalled(cut.to_string()),
                };
            }
            if is_timeout(source.as_ref()) {
                return IntakeError::Stalled("le client n'envoie plus rien".into());
            }
            IntakeError::Malformed(format!("reading the request body: {source}"))
        }
        other => IntakeError::Malformed(other.to_string()),
    }
}

/// The static name of a text field (errors carry `&'static str`).
fn text_field(name: &str) -> &'static str {
    TEXT_FIELDS.into_iter().find(|f| *f == name).unwrap_or("field")
}

/// Whether a body error is the body-idle timeout (tower-http's), however deep.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

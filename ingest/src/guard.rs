//! What every request and answer goes through, whatever its route: a state-changing
//! request made with a console session must come from caregate's own pages (its
//! `Origin`, and the session's CSRF token), and every answer carries the headers that
//! keep a browser from framing, sniffing, caching or leaking it.
//!
//! One place for all routes, so that a page added later (the establishments' space, a
//! new form) is covered without anyone remembering to.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::auth::{csrf_token, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;

/// The form field a console page posts its CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";
/// The header any other cookie-authenticated request sends it in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The pages are server-rendered: nothing is fetched from elsewhere, forms post only
/// to caregate, and no one may frame it. Scripts are caregate's own files only (the
/// DSFR's, and the establishments' upload), never inline; fonts and icons are the
/// DSFR's, served by caregate (its CSS draws some as `data:` images). Styles are inline
/// too (the page's own, and the field boxes' positions).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src 'self' data:; font-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Refuses a forged state-changing request, then adds the security headers to the
/// answer.
pub async fn protect(State(st): State<AppState>, request: Request, next: Next) -> Response {
    let request = match check_forgery(&st, request).await {
        Ok(request) => request,
        Err(e) => return with_security_headers(e.into_response()),
    };
    with_security_headers(next.run(request).await)
}

fn with_security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    // An answer that set its own (a download's `sandbox` policy) keeps it.
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Same-origin only: the `Origin` check below still sees caregate's own.
        (header::REFERRER_POLICY, "same-origin"),
        // Dossier data is never kept by a browser or a shared cache.
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A request a browser could have been made to send: state-changing, credited by the
/// session cookie alone (a bearer token is never sent by a browser on its own).
async fn check_forgery(st: &AppState, request: Request) -> Result<Request, ApiError> {
    if is_safe(request.method()) {
        return Ok(request);
    }
    let headers = request.headers();
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    let session = if bearer { None } else { CookieJar::from_headers(headers).get(SESSION_COOKIE).map(|c| c.value().to_owned()) };
    let login = request.uri().path() == "/console/login";
    if session.is_none() && !login {
        return Ok(request);
    }
    match claimed_origin(headers) {
        Some(origin) if same_origin(&origin, headers, st.http.public_origin.as_deref()) => {}
        Some(origin) => return Err(ApiError::forbidden(format!("request from another site ({origin}) refused"))),
        // A browser always says where a POST comes from; a log-in from a script need not.
        None if session.is_some() => return Err(ApiError::forbidden("a console request must say its origin (Origin header)")),
        None => {}
    }
    let Some(session) = session else { return Ok(request) };
    let expected = csrf_token(&session);
    if let Some(given) = request.headers().get(CSRF_HEADER) {
        return if given.as_bytes() == expected.as_bytes() { Ok(request) } else { Err(csrf_refused()) };
    }
    let multipart = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart && request.uri().path() == crate::espace::PLAIN_UPLOAD {
        // The establishments' upload form without a script: files cannot be read here
        // to find the token; its handler refuses the request unless the token is the
        // form's first field, before it reads anything else.
        return Ok(request);
    }
    let form = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(csrf_refused());
    }
    // The form is read here to find its token, then handed on whole.
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, st.http.max_form_bytes)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("form over {} bytes", st.http.max_form_bytes)))?;
    let given = form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    if given.as_deref() != Some(expected.as_str()) {
        return Err(csrf_refused());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn csrf_refused() -> ApiError {
    ApiError::forbidden("formulaire expiré ou venu d'ailleurs : rechargez la page et recommencez")
}

/// The origin a request says it comes from: `Origin`, or the origin of `Referer`.
fn claimed_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(o) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return Some(o.to_owned());
    }
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok())?;
    let (scheme, rest) = referer.split_once("://")?;
    Some(format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()))
}

/// Whether `origin` is caregate's own: the configured public origin, or else one whose
/// host and port are the request's `Host`.
fn same_origin(origin: &str, headers: &HeaderMap, public: Option<&str>) -> bool {
    if let Some(public) = public {
        return origin.eq_ignore_ascii_case(public.trim_end_matches('/'));
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or_default();
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (axum::http::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    #[test]
    fn only_caregates_own_origin_is_the_same() {
        let h = headers(&[("host", "127.0.0.1:8080")]);
        assert!(same_origin("http://127.0.0.1:8080", &h, None));
        assert!(!same_origin("http://127.0.0.1:8081", &h, None), "another port is another origin");
        assert!(!same_origin("http://evil.example", &h, None));
        assert!(!same_origin("null", &h, None));
        assert!(same_origin("https://caregate.sante.fr", &h, Some("https://caregate.sante.fr/")));
        assert!(!same_origin("http://127.0.0.1:8080", &h, Some("https://caregate.sante.fr")), "the configured origin alone");
    }

    #[test]
    fn a_referer_stands_for_a_missing_origin() {
        assert_eq!(claimed_origin(&headers(&[("referer", "https://a.fr:8443/console/x?y=1")])).as_deref(), Some("https://a.fr:8443"));
        assert_eq!(claimed_origin(&headers(&[("origin", "https://b.fr"), ("referer", "https://a.fr/")])).as_deref(), Some("https://b.fr"));
        assert_eq!(claimed_origin(&headers(&[])), None);
    }

    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        assert_eq!(csrf_token("cg_a"), csrf_token("cg_a"));
        assert_ne!(csrf_token("cg_a"), csrf_token("cg_b"));
        assert_ne!(csrf_token("cg_a"), "cg_a");
    }
}

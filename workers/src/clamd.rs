//! clamd over TCP (INSTREAM), with the reply read three ways: clean, infected, or not
//! fully scanned. Anything else (refused connection, timeout, `size limit exceeded`,
//! an unknown answer) is an error, and an error is never "clean".

use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clamav_client::tokio::Tcp;
use futures::Stream;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClamdConfig {
    /// `host:port` of clamd's TCP socket.
    pub address: String,
    /// Client-side limit for one scan; must exceed clamd's MaxScanTime, so that clamd
    /// answers first with a `Heuristics.Limits.Exceeded.MaxScanTime` verdict. Zero
    /// cannot be written: it would fail every scan.
    pub timeout_secs: NonZeroU64,
}

impl Default for ClamdConfig {
    fn default() -> Self {
        Self { address: "127.0.0.1:3310".into(), timeout_secs: NonZeroU64::new(180).expect("not zero") }
    }
}

impl ClamdConfig {
    /// What would make every scan fail rather than the start-up; each problem names its
    /// key under `[clamd]`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        // Checked by its shape, not resolved: a host name (a compose service) may not
        // resolve yet when the worker starts.
        match self.address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
            _ => Err(vec![format!("address {:?} is not host:port", self.address)]),
        }
    }
}

/// clamd's verdict on one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdReply {
    Clean,
    Found(String),
    /// clamd gave up before the end (size, recursion, time...): not a verdict on the file.
    LimitsExceeded(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("clamd unreachable: {0}")]
    Unavailable(#[from] std::io::Error),
    #[error("clamd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("clamd error: {0}")]
    Engine(String),
}

/// Reads a clamd reply such as `stream: OK\0`, `stream: Eicar-Test-Signature FOUND\0` or
/// `INSTREAM size limit exceeded. ERROR\0`.
pub fn parse_reply(raw: &[u8]) -> Result<ClamdReply, ScanError> {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\0', '\n', '\r']).trim();
    let body = text.strip_prefix("stream:").map(str::trim).unwrap_or(text);
    if body == "OK" {
        return Ok(ClamdReply::Clean);
    }
    if let Some(sig) = body.strip_suffix(" FOUND") {
        let sig = sig.trim().to_owned();
        if sig.is_empty() {
            return Err(ScanError::Engine(format!("FOUND without a signature: {text:?}")));
        }
        return Ok(if sig.starts_with("Heuristics.Limits.Exceeded") { ClamdReply::LimitsExceeded(sig) } else { ClamdReply::Found(sig) });
    }
    Err(ScanError::Engine(if text.is_empty() { "empty reply".to_owned() } else { text.to_owned() }))
}

/// A resident clamd: its signatures are loaded once, not per file.
pub struct Clamd {
    config: ClamdConfig,
    version: Mutex<Option<(String, Instant)>>,
}

const VERSION_TTL: Duration = Duration::from_secs(60);
/// Large chunks: fewer round trips per megabyte, still a small fixed memory cost.
const CHUNK: usize = 256 * 1024;

impl Clamd {
    pub fn new(config: ClamdConfig) -> Self {
        Self { config, version: Mutex::new(None) }
    }

    fn tcp(&self) -> Tcp<&str> {
        Tcp { host_address: self.config.address.as_str() }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.get())
    }

    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = tokio::time::timeout(Duration::from_secs(5), clamav_client::tokio::ping(self.tcp()))
            .await
            .map_err(|_| ScanError::Timeout(Duration::from_secs(5)))??;
        if reply == clamav_client::PONG {
            Ok(())
        } else {
            Err(ScanError::Engine(format!("unexpected ping reply {:?}", String::from_utf8_lossy(&reply))))
        }
    }

    /// Engine and signature database version, e.g. `ClamAV 1.4.6/27000/...`; cached a
    /// minute, so a signature update shows in the records soon after.
    pub async fn version(&self) -> Result<String, ScanError> {
        if let Some((v, at)) = self.version.lock().expect("version lock").clone() {
            if at.elapsed() < VERSION_TTL {
                return Ok(v);
            }
        }
        let raw = tokio::time::timeout(Duration::from_secs(5), clamav_client::tokio::get_version(self.tcp()))
            .await
            .map_err(|_| ScanError::Timeout(Duration::from_secs(5)))??;
        let v = String::from_utf8_lossy(&raw).trim_end_matches(['\0', '\n']).to_owned();
        *self.version.lock().expect("version lock") = Some((v.clone(), Instant::now()));
        Ok(v)
    }

    /// Streams `input` to clamd and reads its verdict.
    pub async fn scan<S>(&self, input: S) -> Result<ClamdReply, ScanError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>>,
    {
        let raw = tokio::time::timeout(self.timeout(), clamav_client::tokio::scan_stream(input, self.tcp(), Some(CHUNK)))
            .await
            .map_err(|_| ScanError::Timeout(self.timeout()))??;
        parse_reply(&raw)
    }
}

/// What clamd's `VERSION` says of its signatures: `ClamAV 1.4.6/27423/Mon Oct 14
/// 08:32:15 2024` with the official databases; only the engine with local ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureDatabase {
    pub version: Option<u64>,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

impl SignatureDatabase {
    pub fn parse(version: &str) -> Self {
        let mut parts = version.trim().splitn(3, '/');
        let _engine = parts.next();
        let number = parts.next().and_then(|n| n.trim().parse().ok());
        let date = parts
            .next()
            .and_then(|d| chrono::NaiveDateTime::parse_from_str(&d.split_whitespace().collect::<Vec<_>>().join(" "), "%a %b %d %H:%M:%S %Y").ok())
            .map(|d| d.and_utc());
        Self { version: number, date }
    }
}

impl SignatureDatabase {
    /// Whether a file scanned by `scanned_with` (an engine string as recorded in its scan
    /// report) was scanned with older signatures than these: only a numbered database
    /// can say so (local databases carry no number; a rescan of them is asked for).
    pub fn is_newer_than(&self, scanned_with: &str) -> bool {
        match (self.version, SignatureDatabase::parse(scanned_with).version) {
            (Some(now), Some(then)) => now > then,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_three_ways() {
        assert_eq!(parse_reply(b"stream: OK\0").unwrap(), ClamdReply::Clean);
        assert_eq!(parse_reply(b"stream: Eicar-Test-Signature FOUND\0").unwrap(), ClamdReply::Found("Eicar-Test-Signature".into()));
        assert_eq!(
            parse_reply(b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0").unwrap(),
            ClamdReply::LimitsExceeded("Heuristics.Limits.Exceeded.MaxFileSize".into())
        );
        for bad in [&b"INSTREAM size limit exceeded. ERROR\0"[..], b"", b"stream: FOUND\0", b"garbage"] {
            assert!(matches!(parse_reply(bad), Err(ScanError::Engine(_))), "{bad:?} is an error");
        }
    }

    #[test]
    fn clamd_versions_are_read() {
        let official = SignatureDatabase::parse("ClamAV 1.4.6/27423/Mon Oct 14 08:32:15 2024\n");
        assert_eq!(official.version, Some(27423));
        assert_eq!(official.date.map(|d| d.to_rfc3339()), Some("2024-10-14T08:32:15+00:00".to_owned()));
        let padded = SignatureDatabase::parse("ClamAV 1.0.7/27000/Tue Jun  4 08:19:48 2024");
        assert_eq!(padded.version, Some(27000));
        assert!(padded.date.is_some(), "a one-digit day is padded with a space");
        assert_eq!(SignatureDatabase::parse("ClamAV 1.4.6"), SignatureDatabase { version: None, date: None });
    }

    #[test]
    fn newer_signatures_are_told() {
        let now = SignatureDatabase::parse("ClamAV 1.4.6/27423/Mon Oct 14 08:32:15 2024");
        assert!(now.is_newer_than("ClamAV 1.4.6/27400/Sun Sep 22 08:00:00 2024"));
        assert!(!now.is_newer_than("ClamAV 1.4.6/27423/Mon Oct 14 08:32:15 2024"));
        assert!(now.is_newer_than("ClamAV 1.4.6"), "a scan with no numbered database is older");
        assert!(!SignatureDatabase::parse("ClamAV 1.4.6").is_newer_than("ClamAV 1.4.6/27423/x"), "local databases say nothing");
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn an_address_that_is_not_host_port_is_refused() {
        assert!(ClamdConfig::default().validate().is_ok());
        let bad = ClamdConfig { address: "clamd".into(), ..ClamdConfig::default() };
        assert_eq!(bad.validate().unwrap_err(), vec!["address \"clamd\" is not host:port".to_owned()]);
        let zero: Result<ClamdConfig, _> = serde_json::from_str(r#"{"timeout_secs": 0}"#);
        assert!(zero.unwrap_err().to_string().contains("nonzero"), "zero cannot be written");
    }
}

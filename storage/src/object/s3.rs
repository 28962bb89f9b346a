use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::{
    retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use base64::Engine;
use caregate_schemas::Sha256Digest;

use super::{check_key, ObjectReader, ObjectStore};
use crate::{S3Config, StorageError};

/// One bucket of an S3-compatible store (Garage, MinIO, AWS...).
#[derive(Clone, Debug)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    endpoint: String,
    object_lock: bool,
}

impl S3ObjectStore {
    pub fn new(cfg: &S3Config, bucket: &str) -> Self {
        let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https)
            .region(Region::new(cfg.region.clone()))
            .endpoint_url(&cfg.endpoint)
            .credentials_provider(Credentials::new(&cfg.access_key, &cfg.secret_key, None, None, "caregate-config"))
            // Self-hosted stores are addressed by path, not by bucket sub-domain.
            .force_path_style(true)
            // We send our own SHA-256 checksum; the SDK's default CRC trailers are not
            // understood by every S3-compatible store.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // A store that froze must give a 503 within a client's patience (under 10 s):
            // each wait on it is short, and one retry only. Reads of large objects are
            // not bounded as a whole, only each wait for the store's next bytes.
            .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(3)).read_timeout(Duration::from_secs(3)).build())
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        Self { client: Client::from_conf(conf), bucket: bucket.to_owned(), endpoint: cfg.endpoint.clone(), object_lock: cfg.object_lock }
    }

    /// Creates the bucket if it does not exist (deployments create theirs with the store's
    /// own tools; tests make one each).
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default();
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                    Ok(())
                } else {
                    Err(map_err(e, &self.bucket))
                }
            }
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// Sorts SDK errors into transient (network, timeouts, 5xx, throttling) and permanent.
fn map_err<E>(e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>, key: &str) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StorageError::unavailable("S3", aws_sdk_s3::error::DisplayErrorContext(&e))
        }
        _ => {
            let code = e.code().unwrap_or_default().to_owned();
            if code == "NoSuchKey" || code == "NotFound" || status == Some(404) {
                StorageError::NotFound(key.to_owned())
            } else if code == "BadDigest" || code.contains("ChecksumMismatch") || code == "InvalidDigest" {
                StorageError::ChecksumMismatch { key: key.to_owned(), expected: "the digest sent".into(), actual: format!("store answered {code}") }
            } else if status.is_some_and(|s| s >= 500 || s == 429) || code == "SlowDown" {
                StorageError::unavailable("S3", aws_sdk_s3::error::DisplayErrorContext(&e))
            } else {
                StorageError::rejected("S3", aws_sdk_s3::error::DisplayErrorContext(&e))
            }
        }
    }
}

/// The store answers a PUT only once it has the whole body, and a copy once it has made
/// it: their wait grows with the size (here at an assumed 20 MB/s at worst), where every
/// other request keeps the client's short one.
fn wait_for_answer(len: u64) -> aws_sdk_s3::config::Builder {
    let wait = Duration::from_secs(3) + Duration::from_millis(len / 20_000);
    aws_sdk_s3::config::Builder::default().timeout_config(TimeoutConfig::builder().read_timeout(wait).build())
}

fn b64(sha256: &Sha256Digest) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha256.0)
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_file(&self, key: &str, path: &Path, sha256: &Sha256Digest) -> Result<(), StorageError> {
        check_key(key)?;
        let len = tokio::fs::metadata(path).await?.len();
        let body = ByteStream::from_path(path).await.map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len as i64)
            // x-amz-checksum-sha256: the store recomputes it and refuses different bytes,
            // which makes signing the payload as well (a second SHA-256 pass, on our side)
            // redundant.
            .checksum_sha256(b64(sha256))
            .body(body)
            .customize()
            .config_override(wait_for_answer(len))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| map_err(e, key))?;
        Ok(())
    }

    async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<String>, StorageError> {
        check_key(key)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl).map_err(|e| StorageError::rejected("S3", e))?;
        let req = self.client.get_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(|e| map_err(e, key))?;
        Ok(Some(req.uri().to_owned()))
    }

    async fn retain(&self, key: &str, until: chrono::DateTime<chrono::Utc>) -> Result<bool, StorageError> {
        if !self.object_lock {
            return Ok(false);
        }
        check_key(key)?;
        let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
            .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Compliance)
            .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(until.timestamp()))
            .build();
        self.client.put_object_retention().bucket(&self.bucket).key(key).retention(retention).send().await.map_err(|e| map_err(e, key))?;
        Ok(true)
    }

    async fn open(&self, key: &str) -> Result<ObjectReader, StorageError> {
        check_key(key)?;
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| map_err(e, key))?;
        Ok(Box::new(out.body.into_async_read()))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        check_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) => match map_err(e, key) {
                StorageError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| map_err(e, key))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_err(e, prefix))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        keys.sort();
        Ok(keys)
    }

    async fn copy_from(&self, src: &dyn ObjectStore, src_key: &str, key: &str, sha256: &Sha256Digest) -> Result<bool, StorageError> {
        let Some(src) = src.as_any().downcast_ref::<S3ObjectStore>() else {
            return Ok(false);
        };
        if src.endpoint != self.endpoint {
            return Ok(false);
        }
        check_key(src_key)?;
        check_key(key)?;
        let out = self
            .client
            .copy_object()
            // Keys are plain ASCII (check_key), so the copy source needs no escaping.
            .copy_source(format!("{}/{}", src.bucket, src_key))
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .customize()
            // The size is not known here: the wait of the largest file accepted.
            .config_override(wait_for_answer(2 << 30))
            .send()
            .await
            .map_err(|e| map_err(e, key))?;
        let reported = match out.copy_object_result().and_then(|r| r.checksum_sha256()) {
            Some(c) => Some(c.to_owned()),
            None => self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .map_err(|e| map_err(e, key))?
                .checksum_sha256()
                .map(str::to_owned),
        };
        let expected = b64(sha256);
        match reported {
            Some(actual) if actual == expected => Ok(true),
            other => {
                // Unverified bytes must not stay under a content address.
                self.delete(key).await?;
                Err(StorageError::ChecksumMismatch {
                    key: key.to_owned(),
                    expected,
                    actual: other.unwrap_or_else(|| "no checksum reported by the store".into()),
                })
            }
        }
    }

    fn describe(&self) -> String {
        format!("S3 bucket {} at {}", self.bucket, self.endpoint)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

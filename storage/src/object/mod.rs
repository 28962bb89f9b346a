//! Where the bytes live. Two instances serve the pipeline: quarantine (everything not yet
//! known to be clean, readable by the pipeline only) and evidence (clean files under
//! content-addressed keys).

mod local;
mod s3;

use std::path::Path;

use async_trait::async_trait;
use caregate_schemas::Sha256Digest;
use tokio::io::AsyncRead;

pub use local::LocalObjectStore;
pub use s3::S3ObjectStore;

use crate::StorageError;

/// A streaming read of one object; never the whole object in memory.
pub type ObjectReader = Box<dyn AsyncRead + Send + Unpin>;

/// An object store: S3 or a local directory.
///
/// Contract: `put_file` is all-or-nothing (a reader never sees a partial object) and the
/// store itself checks the bytes against the digest it is given, refusing them with
/// [`StorageError::ChecksumMismatch`]; putting the same key twice with the same bytes is
/// harmless, which is what makes a redelivered job safe. `delete` of a missing key
/// succeeds.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores the file at `path` under `key`, streaming it from disk.
    async fn put_file(&self, key: &str, path: &Path, sha256: &Sha256Digest) -> Result<(), StorageError>;
    /// Like `put_file`, but the caller gives the file up: a store on the same file system
    /// may move it into place instead of writing a second copy. The digest is checked all
    /// the same.
    async fn put_owned(&self, key: &str, file: tempfile::TempPath, sha256: &Sha256Digest) -> Result<(), StorageError> {
        self.put_file(key, &file, sha256).await
    }
    /// Opens the object for a streaming read.
    async fn open(&self, key: &str) -> Result<ObjectReader, StorageError>;
    /// The object's size, or `None` when it does not exist.
    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError>;
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Every key under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Copies `src_key` of `src` to `key` in this store without the bytes passing through
    /// caregate, when both stores live in the same service. The store computes the copy's
    /// SHA-256 and it must equal `sha256`. `Ok(false)`: this pair of stores cannot copy
    /// in place; the caller then streams the bytes with `put_file`.
    async fn copy_from(&self, _src: &dyn ObjectStore, _src_key: &str, _key: &str, _sha256: &Sha256Digest) -> Result<bool, StorageError> {
        Ok(false)
    }
    /// A URL that lets its holder download the object directly until `ttl` has passed,
    /// for files too large to pass through caregate; `None` when the store cannot make one.
    async fn presigned_get(&self, _key: &str, _ttl: std::time::Duration) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
    /// Has the store itself refuse to delete or overwrite the object before `until`
    /// (S3 Object Lock, compliance mode). `Ok(false)`: this store cannot; caregate's own
    /// API still refuses deletion before the record's `retain_until`.
    async fn retain(&self, _key: &str, _until: chrono::DateTime<chrono::Utc>) -> Result<bool, StorageError> {
        Ok(false)
    }
    /// Where this store is, for logs and the demo summary.
    fn describe(&self) -> String;
    /// For `copy_from`: lets a back end recognise a store of its own kind.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Streams a stored object through SHA-256, copying it to `copy` on the way when given:
/// how fixity checks, exports and retrievals read bytes back, never the whole object in
/// memory. Returns the digest and the size read.
pub async fn hash_object(store: &dyn ObjectStore, key: &str, copy: Option<&mut tokio::fs::File>) -> Result<(Sha256Digest, u64), StorageError> {
    let reader = store.open(key).await?;
    Ok(hash_copy(reader, copy).await?)
}

/// Reads `src` to its end through SHA-256, writing it to `copy` on the way when given;
/// one 256 KiB buffer whatever the size. The digest and the size read.
pub(crate) async fn hash_copy(mut src: impl AsyncRead + Unpin, mut copy: Option<&mut tokio::fs::File>) -> std::io::Result<(Sha256Digest, u64)> {
    use sha2::Digest;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        if let Some(out) = copy.as_deref_mut() {
            out.write_all(&buf[..n]).await?;
        }
    }
    if let Some(out) = copy {
        out.flush().await?;
    }
    Ok((Sha256Digest::from(hasher), size))
}

/// Keys are made by caregate (`quarantine/<uuid>`, `sha256/..`), never by users; refusing
/// anything else keeps a bug from turning into a path traversal on the local back end.
pub(crate) fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::rejected("object store", format!("invalid key {key:?}")))
    }
}

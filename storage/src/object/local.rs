use std::path::{Path, PathBuf};

use async_trait::async_trait;
use caregate_schemas::Sha256Digest;
use tokio::fs;

use super::{check_key, hash_copy, ObjectReader, ObjectStore};
use crate::StorageError;

/// Objects as files under a directory: the embedded back end.
#[derive(Clone, Debug)]
pub struct LocalObjectStore {
    root: PathBuf,
}

const TMP_DIR: &str = ".incoming";

impl LocalObjectStore {
    pub async fn open_dir(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(root.join(TMP_DIR)).await?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn check_digest(key: &str, expected: &Sha256Digest, actual: Sha256Digest) -> Result<(), StorageError> {
    if &actual == expected {
        Ok(())
    } else {
        Err(StorageError::ChecksumMismatch { key: key.to_owned(), expected: expected.hex(), actual: actual.hex() })
    }
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put_file(&self, key: &str, path: &Path, sha256: &Sha256Digest) -> Result<(), StorageError> {
        let dest = self.path(key)?;
        // Copy to a temporary name while hashing, then rename: readers see the whole
        // object or nothing, and the digest is checked on the bytes actually written.
        let tmp = tempfile::Builder::new().prefix("put-").tempfile_in(self.root.join(TMP_DIR))?.into_temp_path();
        let mut src = fs::File::open(path).await?;
        let mut out = fs::File::create(&tmp).await?;
        let actual = hash_copy(&mut src, Some(&mut out)).await?.0;
        out.sync_all().await?;
        drop(out);
        check_digest(key, sha256, actual)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).await?;
        }
        tmp.persist(&dest).map_err(|e| StorageError::Io(e.error))?;
        Ok(())
    }

    async fn put_owned(&self, key: &str, file: tempfile::TempPath, sha256: &Sha256Digest) -> Result<(), StorageError> {
        let dest = self.path(key)?;
        // Reading and hashing is far cheaper than writing and syncing a second copy.
        let mut src = fs::File::open(&file).await?;
        check_digest(key, sha256, hash_copy(&mut src, None).await?.0)?;
        src.sync_all().await?;
        drop(src);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).await?;
        }
        match file.persist(&dest) {
            Ok(()) => Ok(()),
            // Another file system (EXDEV): copy instead.
            Err(e) => self.put_file(key, &e.path, sha256).await,
        }
    }

    async fn open(&self, key: &str) -> Result<ObjectReader, StorageError> {
        match fs::File::open(self.path(key)?).await {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::NotFound(key.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        let mut keys = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let path = entry.path();
                    let rel = path.strip_prefix(&root).expect("under root").to_string_lossy().into_owned();
                    if rel == TMP_DIR {
                        continue;
                    }
                    if entry.file_type()?.is_dir() {
                        stack.push(path);
                    } else if rel.starts_with(&prefix) {
                        out.push(rel);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
        keys.sort();
        Ok(keys)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

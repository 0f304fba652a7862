//! Content-addressed blobs on a provider's disk: modules, inputs, and execution results.

use crate::{commitment::blob_hash, exec::Outcome};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};
use trellis_primitives::Hash;

/// Why a blob was not stored.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The bytes do not hash to the address they were sent for.
    #[error("the bytes hash to {actual}, not {expected}")]
    Mismatch {
        /// The address asked for.
        expected: Hash,
        /// What the bytes hash to.
        actual: Hash,
    },
    /// The disk failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What a provider keeps of one run: the outcome and what it committed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The job.
    pub job: Hash,
    /// How the run ended (output bytes in hex).
    pub outcome: Outcome,
    /// Fuel it used.
    pub fuel_used: u64,
    /// The commitment posted on chain.
    pub commitment: Hash,
}

/// Blobs under `<dir>/blobs/<hex>` and run records under `<dir>/runs/<job hex>.json`. Every
/// write goes to a temporary file, is fsynced, then renamed: a crash leaves the old state or
/// the new one, never half a file.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir.join("blobs"))?;
        fs::create_dir_all(dir.join("runs"))?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    fn blob_path(&self, hash: &Hash) -> PathBuf {
        self.dir.join("blobs").join(hash.to_hex())
    }

    fn run_path(&self, job: &Hash) -> PathBuf {
        self.dir.join("runs").join(format!("{}.json", job.to_hex()))
    }

    /// Whether the blob is here.
    pub fn has(&self, hash: &Hash) -> bool {
        self.blob_path(hash).is_file()
    }

    /// The blob's bytes, if here.
    pub fn get(&self, hash: &Hash) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.blob_path(hash)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` as `hash` after checking they hash to it.
    pub fn put(&self, hash: &Hash, bytes: &[u8]) -> Result<(), BlobError> {
        let actual = blob_hash(bytes);
        if &actual != hash {
            return Err(BlobError::Mismatch {
                expected: *hash,
                actual,
            });
        }
        write_atomically(&self.blob_path(hash), bytes)?;
        Ok(())
    }

    /// The record of a finished run, if any.
    pub fn run(&self, job: &Hash) -> io::Result<Option<RunRecord>> {
        let bytes = match fs::read(self.run_path(job)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Keeps a run's record (before its commitment is submitted: what was committed can always
    /// be served).
    pub fn put_run(&self, record: &RunRecord) -> io::Result<()> {
        let bytes = serde_json::to_vec(record).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        write_atomically(&self.run_path(&record.job), &bytes)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Concurrent writers of the same blob (two jobs uploading one module) each get their own
    // temporary file; the last rename wins with identical bytes.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_kept_only_under_their_own_hash() {
        let dir = std::env::temp_dir().join(format!("trellis-blobs-{}", std::process::id()));
        let store = BlobStore::open(&dir).expect("open");
        let bytes = b"module bytes".to_vec();
        let hash = blob_hash(&bytes);
        assert!(matches!(
            store.put(&blob_hash(b"other"), &bytes),
            Err(BlobError::Mismatch { .. })
        ));
        assert!(!store.has(&hash));
        store.put(&hash, &bytes).expect("put");
        assert_eq!(store.get(&hash).expect("get"), Some(bytes));
        let record = RunRecord {
            job: hash,
            outcome: Outcome::Refused { message: "no".into() },
            fuel_used: 3,
            commitment: hash,
        };
        store.put_run(&record).expect("put run");
        assert_eq!(store.run(&hash).expect("run"), Some(record));
        assert_eq!(store.run(&blob_hash(b"nope")).expect("run"), None);
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}

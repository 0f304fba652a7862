//! File names, kept on this machine only: the chain knows a stored file by its id, never by name.
//! The catalog sits next to the key file (`<keystore>.files.json`).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

/// Names by file id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Catalog {
    files: BTreeMap<String, String>,
}

fn path(keystore: &Path) -> std::path::PathBuf {
    let mut name = keystore.as_os_str().to_owned();
    name.push(".files.json");
    name.into()
}

impl Catalog {
    pub(crate) fn load(keystore: &Path) -> Result<Self> {
        let path = path(keystore);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).with_context(|| format!("{} is not a file catalog", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub(crate) fn save(&self, keystore: &Path) -> Result<()> {
        let path = path(keystore);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub(crate) fn name(&self, id: &str) -> Option<&str> {
        self.files.get(id).map(String::as_str)
    }

    pub(crate) fn insert(&mut self, id: String, name: String) {
        self.files.insert(id, name);
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.files.remove(id);
    }
}

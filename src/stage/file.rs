//! `file://DIR`: a local folder. Objects are written to a temporary name and renamed into
//! place, so a crash never leaves a half-written part under its final name.

use std::path::{Path, PathBuf};

use super::{Stage, StagedFile};
use crate::error::{Error, Result};

/// A failed file operation, as a stage error (exit code 5), naming the path.
fn io_error(action: &str, path: impl AsRef<Path>, e: std::io::Error) -> Error {
    Error::Stage {
        url: format!("file://{}", path.as_ref().display()),
        action: action.to_string(),
        message: e.to_string(),
    }
}

/// A stage in a local folder.
#[derive(Debug, Clone)]
pub struct FileStage {
    root: PathBuf,
}

impl FileStage {
    /// A stage rooted at `root` (made absolute, so staged URLs stay valid from any directory).
    pub fn new(root: &Path) -> Result<Self> {
        let root =
            std::path::absolute(root).map_err(|e| io_error("resolving stage folder", root, e))?;
        Ok(FileStage { root })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn file(&self, key: &str, content_length: u64) -> StagedFile {
        StagedFile {
            key: key.to_string(),
            url: format!("file://{}", self.path(key).display()),
            content_length,
        }
    }
}

#[async_trait::async_trait]
impl Stage for FileStage {
    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StagedFile> {
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error("creating stage folder", parent, e))?;
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let len = bytes.len() as u64;
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| io_error("writing staged file", &tmp, e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io_error("renaming staged file", &path, e))?;
        Ok(self.file(key, len))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StagedFile>> {
        let mut found = Vec::new();
        let mut pending = vec![self.path(prefix)];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("listing stage folder", &dir, e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| io_error("listing stage folder", &dir, e))?
            {
                let meta = entry
                    .metadata()
                    .await
                    .map_err(|e| io_error("reading", entry.path(), e))?;
                if meta.is_dir() {
                    pending.push(entry.path());
                } else if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                    found.push(self.file(&rel.to_string_lossy(), meta.len()));
                }
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key);
        tokio::fs::read(&path)
            .await
            .map_err(|e| io_error("reading staged file", &path, e))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let path = self.path(prefix);
        match tokio::fs::remove_dir_all(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("deleting staged run", &path, e)),
        }
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }
}

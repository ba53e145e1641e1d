//! Files martsync writes for other programs to read (metrics, reports, the status page).

use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` with `text` atomically: readers (node_exporter's textfile collector, a
/// browser) see the old file or the new one, never half of one. The temporary file sits
/// beside the target, so the rename stays on one file system.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_os_string());
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("replacing", path, e)
    })
}

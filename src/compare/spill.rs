//! The compare's entries, hash-partitioned by key, in memory until a limit and then in
//! spill files: `<side>-<partition>` in a fresh folder that is removed when done.
//!
//! An entry is `key length (u32 LE) | key bytes | one u64 LE hash per compared column`.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Partitions per side. A partition is what is in memory at once when merging, so a
/// comparison needs about (entries / PARTITIONS) × entry size beyond the limit: 90M rows of
/// 16 compared columns are ~500 KB entries of ~140 bytes each per partition, ~50 MiB.
pub const PARTITIONS: usize = 256;

/// Both sides' partitions.
pub struct Spill {
    base: PathBuf,
    dir: Option<SpillDir>,
    limit: usize,
    columns: usize,
    buffers: [Vec<Vec<u8>>; 2],
    buffered: usize,
    spilled: u64,
}

/// The spill folder, removed with everything in it when dropped (also on an error).
struct SpillDir(PathBuf);

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Spill {
    /// Partitions that spill into a new folder in `base` once `limit` bytes are buffered.
    pub fn new(base: &Path, limit: usize, columns: usize) -> Self {
        Spill {
            base: base.to_path_buf(),
            dir: None,
            limit,
            columns,
            buffers: [vec![Vec::new(); PARTITIONS], vec![Vec::new(); PARTITIONS]],
            buffered: 0,
            spilled: 0,
        }
    }

    /// Adds one entry of `side` (0 left, 1 right) to the partition of `hash`.
    pub fn push(&mut self, side: usize, hash: u64, key: &[u8], hashes: &[u64]) -> Result<()> {
        debug_assert_eq!(hashes.len(), self.columns);
        let buffer = &mut self.buffers[side][(hash % PARTITIONS as u64) as usize];
        let before = buffer.len();
        buffer.extend_from_slice(&(key.len() as u32).to_le_bytes());
        buffer.extend_from_slice(key);
        for h in hashes {
            buffer.extend_from_slice(&h.to_le_bytes());
        }
        self.buffered += buffer.len() - before;
        if self.buffered > self.limit {
            self.flush()?;
        }
        Ok(())
    }

    /// Bytes written to spill files so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled
    }

    /// Appends every buffer to its partition's file and frees it.
    fn flush(&mut self) -> Result<()> {
        if self.dir.is_none() {
            let dir = self
                .base
                .join(format!("martsync-compare-{}", crate::units::new_run_id()));
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io("creating the compare spill folder", &dir, e))?;
            self.dir = Some(SpillDir(dir));
        }
        for side in 0..2 {
            for partition in 0..PARTITIONS {
                let buffer = std::mem::take(&mut self.buffers[side][partition]);
                if buffer.is_empty() {
                    continue;
                }
                let path = self.path(side, partition);
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(&buffer))
                    .map_err(|e| Error::io("writing compare spill file", &path, e))?;
                self.spilled += buffer.len() as u64;
            }
        }
        self.buffered = 0;
        Ok(())
    }

    fn path(&self, side: usize, partition: usize) -> PathBuf {
        let dir = self.dir.as_ref().map_or(&self.base, |d| &d.0);
        dir.join(format!("{side}-{partition}"))
    }

    /// Both sides' entries of one partition (its spilled part, then its buffer), removing
    /// them from the spill.
    pub fn take(&mut self, partition: usize) -> Result<(Entries, Entries)> {
        let mut sides = [Entries::new(self.columns), Entries::new(self.columns)];
        for (side, entries) in sides.iter_mut().enumerate() {
            if self.dir.is_some() {
                let path = self.path(side, partition);
                match File::open(&path) {
                    Ok(file) => {
                        entries
                            .read(BufReader::new(file))
                            .map_err(|e| Error::io("reading compare spill file", &path, e))?;
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("opening compare spill file", &path, e)),
                }
            }
            let buffer = std::mem::take(&mut self.buffers[side][partition]);
            entries
                .read(buffer.as_slice())
                .expect("reading a buffer in memory");
        }
        let [left, right] = sides;
        Ok((left, right))
    }
}

/// One side's entries of one partition, decoded.
pub struct Entries {
    columns: usize,
    keys: Vec<u8>,
    /// Start and end of each entry's key in `keys`.
    spans: Vec<(usize, usize)>,
    /// `columns` hashes per entry.
    hashes: Vec<u64>,
}

impl Entries {
    fn new(columns: usize) -> Self {
        Entries {
            columns,
            keys: Vec::new(),
            spans: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// Decodes entries until the end of `input`.
    fn read(&mut self, mut input: impl Read) -> std::io::Result<()> {
        let mut word = [0u8; 8];
        loop {
            match input.read_exact(&mut word[..4]) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let len = u32::from_le_bytes(word[..4].try_into().expect("4 bytes")) as usize;
            let start = self.keys.len();
            self.keys.resize(start + len, 0);
            input.read_exact(&mut self.keys[start..])?;
            self.spans.push((start, start + len));
            for _ in 0..self.columns {
                input.read_exact(&mut word)?;
                self.hashes.push(u64::from_le_bytes(word));
            }
        }
    }

    pub fn key(&self, entry: usize) -> &[u8] {
        let (start, end) = self.spans[entry];
        &self.keys[start..end]
    }

    pub fn hashes(&self, entry: usize) -> &[u64] {
        &self.hashes[entry * self.columns..(entry + 1) * self.columns]
    }

    /// Entry numbers ordered by key, then by hashes (so equal rows of a key line up).
    pub fn sorted(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.spans.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            self.key(a)
                .cmp(self.key(b))
                .then_with(|| self.hashes(a).cmp(self.hashes(b)))
        });
        order
    }
}

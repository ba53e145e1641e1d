//! A place in a MySQL server's binary log: the file and the offset of the next event in it.
//!
//! MariaDB's GTIDs cannot be asked for by a client that is not a replica of its own kind
//! (MySQL's `COM_BINLOG_DUMP_GTID` does not exist there), so the position a `binlog`-mode
//! mart records is the file and offset, as `mariadb-bin.000012:4711`: what
//! `SHOW MASTER STATUS`, `SHOW BINLOG EVENTS` and `mariadb-binlog --start-position` name.

use std::cmp::Ordering;
use std::fmt;

/// A file of the binary log and an offset in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogPosition {
    pub file: String,
    pub offset: u64,
}

impl BinlogPosition {
    /// Parses `file:offset`, as [`fmt::Display`] writes it and the ledger stores it.
    pub fn parse(text: &str) -> Result<BinlogPosition, String> {
        let bad = || format!("`{text}` is not a binary-log position (`file:offset`)");
        let (file, offset) = text.rsplit_once(':').ok_or_else(bad)?;
        if file.is_empty() {
            return Err(bad());
        }
        Ok(BinlogPosition {
            file: file.to_string(),
            offset: offset.parse().map_err(|_| bad())?,
        })
    }

    /// The sequence number of the file (its extension, `000012`); the server numbers its
    /// files in order, so positions compare by it, then by offset.
    fn sequence(&self) -> Option<u64> {
        self.file.rsplit_once('.').and_then(|(_, n)| n.parse().ok())
    }
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

impl PartialOrd for BinlogPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BinlogPosition {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.sequence(), other.sequence()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.file.cmp(&other.file),
        }
        .then(self.offset.cmp(&other.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_order_by_file_number_then_offset() {
        let p = BinlogPosition::parse("mariadb-bin.000012:4711").unwrap();
        assert_eq!(p.file, "mariadb-bin.000012");
        assert_eq!(p.offset, 4711);
        assert_eq!(p.to_string(), "mariadb-bin.000012:4711");
        let later = BinlogPosition::parse("mariadb-bin.000013:4").unwrap();
        assert!(p < later);
        // Numbers past the zero padding still order as numbers.
        assert!(
            BinlogPosition::parse("b.999999:9").unwrap()
                < BinlogPosition::parse("b.1000000:4").unwrap()
        );
        assert!(p < BinlogPosition::parse("mariadb-bin.000012:4712").unwrap());
        for bad in ["", "file", "file:", ":12", "file:-3", "file:x"] {
            assert!(BinlogPosition::parse(bad).is_err(), "{bad}");
        }
    }
}

//! What binlog mode needs the server to log, and the grants it needs to read it.

/// What the mode needs the server to log, checked before each cycle.
pub(super) struct ServerLogging {
    pub log_bin: bool,
    pub format: String,
    pub row_image: String,
    /// `SHOW GRANTS` of the session, each row's text.
    pub grants: Vec<String>,
}

impl ServerLogging {
    /// What is missing for `binlog` mode, in words naming the server variable or grant; none
    /// when everything is there.
    pub fn missing(&self) -> Option<String> {
        if !self.log_bin {
            return Some(
                "binary logging is off (@@log_bin = 0): start the server with --log-bin \
                 --binlog-format=ROW --binlog-row-image=FULL and a --server-id, or use \
                 source.mode = \"watermark\""
                    .into(),
            );
        }
        if !self.format.eq_ignore_ascii_case("ROW") {
            return Some(format!(
                "@@binlog_format = {}: row events are needed; SET GLOBAL binlog_format = 'ROW' \
                 (and binlog_format = ROW in the server's config)",
                self.format
            ));
        }
        if !self.row_image.eq_ignore_ascii_case("FULL") {
            return Some(format!(
                "@@binlog_row_image = {}: whole rows are needed; SET GLOBAL binlog_row_image = \
                 'FULL' (and in the server's config)",
                self.row_image
            ));
        }
        let grants = self.grants.join("\n").to_ascii_uppercase();
        let all = grants.contains("GRANT ALL PRIVILEGES ON *.*");
        let has = |names: &[&str]| all || names.iter().any(|n| grants.contains(n));
        if !has(&["REPLICATION SLAVE", "REPLICATION REPLICA"]) {
            return Some(
                "the user lacks the grant REPLICATION SLAVE (needed to read the binary log): \
                 GRANT REPLICATION SLAVE ON *.* TO the source user"
                    .into(),
            );
        }
        if !has(&["BINLOG MONITOR", "REPLICATION CLIENT", "SUPER"]) {
            return Some(
                "the user lacks the grant BINLOG MONITOR (REPLICATION CLIENT before MariaDB \
                 10.5; needed for SHOW MASTER STATUS): GRANT BINLOG MONITOR ON *.* TO the \
                 source user"
                    .into(),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_server_settings_and_grants_are_named() {
        let ok = ServerLogging {
            log_bin: true,
            format: "ROW".into(),
            row_image: "FULL".into(),
            grants: vec![
                "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `m`@`%`".into(),
                "GRANT SELECT ON `shop`.* TO `m`@`%`".into(),
            ],
        };
        assert_eq!(ok.missing(), None);
        let with = |f: &dyn Fn(&mut ServerLogging)| {
            let mut s = ServerLogging {
                grants: ok.grants.clone(),
                format: ok.format.clone(),
                row_image: ok.row_image.clone(),
                ..ok
            };
            f(&mut s);
            s.missing().unwrap_or_default()
        };
        assert!(with(&|s| s.log_bin = false).contains("@@log_bin"));
        assert!(with(&|s| s.format = "STATEMENT".into()).contains("@@binlog_format = STATEMENT"));
        assert!(with(&|s| s.format = "MIXED".into()).contains("binlog_format"));
        assert!(with(&|s| s.row_image = "MINIMAL".into()).contains("@@binlog_row_image = MINIMAL"));
        assert!(
            with(&|s| s.grants = vec!["GRANT SELECT ON `shop`.* TO `m`@`%`".into()])
                .contains("REPLICATION SLAVE")
        );
        assert!(
            with(&|s| s.grants = vec!["GRANT REPLICATION SLAVE ON *.* TO `m`@`%`".into()])
                .contains("BINLOG MONITOR")
        );
        assert_eq!(
            with(&|s| s.grants = vec!["GRANT ALL PRIVILEGES ON *.* TO `m`@`%`".into()]),
            ""
        );
    }
}

//! The URLs of source, stage and warehouse: parsed by scheme, and redacted wherever they
//! are shown (a password never reaches a log, an error or a report).

use std::path::PathBuf;

use super::{SourceUrl, StageUrl, WarehouseUrl};

fn split_scheme(url: &str) -> std::result::Result<(&str, &str), String> {
    url.split_once("://")
        .ok_or_else(|| format!("`{}` is not a URL (expected scheme://…)", redact_url(url)))
}

fn path_part(url: &str, rest: &str) -> std::result::Result<PathBuf, String> {
    if rest.is_empty() {
        Err(format!("`{url}` has no path"))
    } else {
        Ok(PathBuf::from(rest))
    }
}

/// Checks a server URL (`scheme://user:pass@host:port/db`): it parses, has a host and a
/// database. The URL itself is kept as written for the client library.
fn check_server_url(url: &str) -> std::result::Result<String, String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("`{}` is not a valid URL: {e}", redact_url(url)))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{}` has no host", redact_url(url)));
    }
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err(format!(
            "`{}` names no database (…/DATABASE at the end)",
            redact_url(url)
        ));
    }
    Ok(url.to_string())
}

pub(super) fn parse_source_url(url: &str) -> std::result::Result<SourceUrl, String> {
    match split_scheme(url)? {
        ("files", rest) => Ok(SourceUrl::Files(path_part(url, rest)?)),
        ("mysql", _) => Ok(SourceUrl::MySql(check_server_url(url)?)),
        (scheme, _) => Err(format!(
            "unsupported source scheme `{scheme}://` (supported: files://DIR, mysql://USER:PASS@HOST:PORT/DB)"
        )),
    }
}

pub(super) fn parse_stage_url(url: &str) -> std::result::Result<StageUrl, String> {
    match split_scheme(url)? {
        ("file", rest) => Ok(StageUrl::File(path_part(url, rest)?)),
        ("s3", rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("`{url}` names no bucket (s3://BUCKET/PREFIX)"));
            }
            Ok(StageUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            })
        }
        (scheme, _) => Err(format!(
            "unsupported stage scheme `{scheme}://` (supported: file://DIR, s3://BUCKET/PREFIX)"
        )),
    }
}

pub(super) fn parse_warehouse_url(url: &str) -> std::result::Result<WarehouseUrl, String> {
    match split_scheme(url)? {
        ("duckdb", rest) => Ok(WarehouseUrl::DuckDb(path_part(url, rest)?)),
        ("postgres" | "postgresql", _) => Ok(WarehouseUrl::Postgres(check_server_url(url)?)),
        ("redshift", _) => Ok(WarehouseUrl::Redshift(check_server_url(url)?)),
        (scheme, _) => Err(format!(
            "unsupported warehouse scheme `{scheme}://` (supported: duckdb://PATH, \
             postgres://USER:PASS@HOST:PORT/DB, redshift://USER:PASS@HOST:PORT/DB)"
        )),
    }
}

/// The URL with any password replaced by `***`, for logs and errors: the user-info password
/// and query parameters that carry secrets (`password=`, `sslpassword=`, …).
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Not parseable: show only the scheme, never what might be a password.
        return url.split_once("://").map_or_else(
            || "<unparseable URL>".into(),
            |(s, _)| format!("{s}://<unparseable>"),
        );
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("pass") || k.contains("secret") || k.contains("token") || k.ends_with("key")
    };
    if parsed.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl crate::schema::Dialect {
    /// The dialect of a configured warehouse.
    pub fn of(url: &WarehouseUrl) -> Self {
        match url {
            WarehouseUrl::DuckDb(_) => Self::DuckDb,
            WarehouseUrl::Postgres(_) => Self::Postgres,
            WarehouseUrl::Redshift(_) => Self::Redshift,
        }
    }
}

impl std::fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceUrl::Files(p) => write!(f, "files://{}", p.display()),
            SourceUrl::MySql(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl std::fmt::Display for StageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageUrl::File(p) => write!(f, "file://{}", p.display()),
            StageUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StageUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl std::fmt::Display for WarehouseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarehouseUrl::DuckDb(p) => write!(f, "duckdb://{}", p.display()),
            WarehouseUrl::Postgres(url) | WarehouseUrl::Redshift(url) => {
                f.write_str(&redact_url(url))
            }
        }
    }
}

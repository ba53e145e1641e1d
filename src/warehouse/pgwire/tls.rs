//! TLS of wire-protocol connections, as libpq's `sslmode` says: `disable`; `prefer` and
//! `require` encrypt without verifying the server (as libpq does); `verify-ca` verifies its
//! certificate's chain against the web PKI roots plus `sslrootcert=FILE`, `verify-full` its
//! name too. PostgreSQL defaults to `prefer`, Redshift to `verify-full`.

use crate::schema::Dialect;
use crate::units::tls::Verify;

/// How connections are encrypted.
#[derive(Clone)]
pub enum Tls {
    None,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The web PKI roots, plus the certificates of `sslrootcert` when given.
fn root_store(root_cert: Option<&str>) -> std::result::Result<rustls::RootCertStore, String> {
    let extra = match root_cert {
        Some(path) => vec![(
            format!("sslrootcert {path}"),
            std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?,
        )],
        None => Vec::new(),
    };
    crate::units::tls::root_store(true, &extra)
}

/// Parses the URL into a client config and the TLS to use; `sslmode`/`sslrootcert` are
/// handled here (tokio-postgres knows only disable/prefer/require and no root certs).
pub fn connect_options(
    url: &str,
    dialect: Dialect,
) -> std::result::Result<(tokio_postgres::Config, Tls), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let default_mode = if dialect == Dialect::Redshift {
        "verify-full"
    } else {
        "prefer"
    };
    let mut mode = default_mode.to_string();
    let mut root_cert = None;
    let mut rest = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match k.as_ref() {
            "sslmode" => mode = v.into_owned(),
            "sslrootcert" => root_cert = Some(v.into_owned()),
            _ => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    let client_mode = match mode.as_str() {
        "disable" => "disable",
        "prefer" | "allow" => "prefer",
        "require" | "verify-ca" | "verify-full" => "require",
        other => {
            return Err(format!(
                "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    rest.push(("sslmode".into(), client_mode.into()));
    parsed.query_pairs_mut().clear().extend_pairs(rest);
    // tokio-postgres parses postgresql:// URLs; Redshift's are the same apart from the scheme.
    let text = parsed.to_string();
    let text = match text.split_once("://") {
        Some((_, rest)) => format!("postgresql://{rest}"),
        None => text,
    };
    let config: tokio_postgres::Config = text.parse().map_err(|e| format!("{e}"))?;
    let verify = match mode.as_str() {
        "disable" => return Ok((config, Tls::None)),
        // libpq's verify-ca checks the chain only: a server reached through a tunnel or by
        // an address its certificate does not name still passes.
        "verify-ca" => Verify::Chain,
        "verify-full" => Verify::Full,
        _ => Verify::Nothing,
    };
    let tls = Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(
        crate::units::tls::client_config(verify, || root_store(root_cert.as_deref()))?,
    ));
    Ok((config, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_off_the_url() {
        let (config, tls) = connect_options(
            "postgres://u:p@h:5433/db?sslmode=verify-full",
            Dialect::Postgres,
        )
        .unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(config.get_dbname(), Some("db"));
        assert!(matches!(tls, Tls::Rustls(_)));
        let (config, tls) =
            connect_options("redshift://u:p@h:5439/dev", Dialect::Redshift).unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert!(matches!(tls, Tls::Rustls(_)));
        let (_, tls) =
            connect_options("postgres://u@h/db?sslmode=disable", Dialect::Postgres).unwrap();
        assert!(matches!(tls, Tls::None));
        assert!(connect_options("postgres://u@h/db?sslmode=sometimes", Dialect::Postgres).is_err());
    }
}

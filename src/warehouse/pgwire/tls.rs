//! TLS of wire-protocol connections, as libpq's `sslmode` says: `disable`; `prefer` and
//! `require` encrypt without verifying the server (as libpq does); `verify-ca` and
//! `verify-full` verify it against the web PKI roots plus `sslrootcert=FILE`. PostgreSQL
//! defaults to `prefer`, Redshift to `verify-full`.

use std::sync::Arc;

use crate::schema::Dialect;

/// How connections are encrypted.
#[derive(Clone)]
pub enum Tls {
    None,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The web PKI roots, plus the certificates of `sslrootcert` when given.
fn root_store(root_cert: Option<&str>) -> std::result::Result<rustls::RootCertStore, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = root_cert {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
        }
    }
    Ok(roots)
}

/// Accepts any server certificate: libpq's `sslmode=require` (encryption without
/// authentication). Signatures are still checked, so the session key is the server's.
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let tls = match mode.as_str() {
        "disable" => Tls::None,
        "verify-ca" | "verify-full" => {
            let roots = root_store(root_cert.as_deref())?;
            Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(
                builder.with_root_certificates(roots).with_no_client_auth(),
            ))
        }
        _ => Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
                .with_no_client_auth(),
        )),
    };
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

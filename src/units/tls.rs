//! TLS client settings shared by the MySQL source's own connection and the PostgreSQL wire
//! warehouse: rustls with the aws-lc provider, the web PKI roots plus the user's CA file,
//! and the three levels of checking the clients' `ssl-mode`/`sslmode` options name.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: encrypted, but whoever answers is accepted (MySQL's `REQUIRED`, libpq's
    /// `require`). Signatures are still checked, so the session key is the server's.
    Nothing,
    /// The chain up to a trusted root, not the name (MySQL's `VERIFY_CA`, libpq's `verify-ca`).
    Chain,
    /// The chain and the name (MySQL's `VERIFY_IDENTITY`, libpq's `verify-full`).
    Full,
}

/// The web PKI roots (unless `built_in` is false) plus the certificates in `extra`, each
/// a file's contents and what names it in errors: PEM, or DER when the file holds no PEM
/// block (as mysql_async reads `ssl-ca`).
pub fn root_store(built_in: bool, extra: &[(String, Vec<u8>)]) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    if built_in {
        roots.roots = webpki_roots::TLS_SERVER_ROOTS.to_vec();
    }
    for (what, bytes) in extra {
        let mut seen = false;
        for cert in CertificateDer::pem_slice_iter(bytes) {
            let cert = cert.map_err(|e| format!("{what}: {e}"))?;
            roots.add(cert).map_err(|e| format!("{what}: {e}"))?;
            seen = true;
        }
        if !seen {
            roots
                .add(CertificateDer::from(bytes.clone()))
                .map_err(|e| format!("{what}: neither PEM nor a DER certificate: {e}"))?;
        }
    }
    Ok(roots)
}

/// A client configuration that checks what `verify` says against the roots `roots` makes,
/// called only for the levels that consult them (so `Verify::Nothing` reads no CA file).
pub fn client_config(
    verify: Verify,
    roots: impl FnOnce() -> Result<RootCertStore, String>,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    // The web PKI's verifier checks the handshake's signatures at every level; it needs a
    // root to be built, which `Verify::Nothing` never consults.
    let roots = match verify {
        Verify::Nothing => root_store(true, &[])?,
        Verify::Chain | Verify::Full => roots()?,
    };
    if verify == Verify::Full {
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    }
    let web_pki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Relaxed {
            web_pki,
            check_chain: verify == Verify::Chain,
        }))
        .with_no_client_auth())
}

/// [`Verify::Nothing`] and [`Verify::Chain`]: the web PKI's checks of the certificate, all but
/// the name's or none, and of the handshake's signatures, all.
#[derive(Debug)]
struct Relaxed {
    web_pki: Arc<WebPkiServerVerifier>,
    check_chain: bool,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(ServerCertVerified::assertion());
        }
        match self.web_pki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.web_pki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.web_pki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.web_pki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A test CA and a server certificate it signed for `db.internal` (P-256, valid until
    // 2126), made with `openssl req -x509` and `openssl x509 -req`.
    const CA: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBhDCCASugAwIBAgIUfuu1l0zYJHjrY4kvAVdpQv6eiHEwCgYIKoZIzj0EAwIw\n\
FzEVMBMGA1UEAwwMdW5pdCB0ZXN0IENBMCAXDTI2MTIwMjAxNDQxMFoYDzIxMjYx\n\
MTA4MDE0NDEwWjAXMRUwEwYDVQQDDAx1bml0IHRlc3QgQ0EwWTATBgcqhkjOPQIB\n\
BggqhkjOPQMBBwNCAARvAnDMPY2ra+/g5FsyIhbd6W5+JdHC/Qpc8nuAyS/Q5vn9\n\
misCkaj2a2AoRRbxDPQfsgbtpGDxkberY5trHwbco1MwUTAdBgNVHQ4EFgQUnS9v\n\
XYaci8HZzl6TdYxCOvGTUOcwHwYDVR0jBBgwFoAUnS9vXYaci8HZzl6TdYxCOvGT\n\
UOcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAJq7QClQWqaiv4\n\
fho4WCVUc/MVB79R9lfpNQBOJWTqEAIgGga22U9mhDRaRa28RhL/O0Krs0hWFVIZ\n\
3wQQ69e1PgQ=\n\
-----END CERTIFICATE-----";
    const LEAF: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBqzCCAVGgAwIBAgIUR2M0opJ4U9HknSyhFIH8CzIMT/4wCgYIKoZIzj0EAwIw\n\
FzEVMBMGA1UEAwwMdW5pdCB0ZXN0IENBMCAXDTI2MTIwMjAxNDQxMFoYDzIxMjYx\n\
MTA4MDE0NDEwWjAWMRQwEgYDVQQDDAtkYi5pbnRlcm5hbDBZMBMGByqGSM49AgEG\n\
CCqGSM49AwEHA0IABIdenk29zs5R5gkfIpkUsIV0XuVqRQ4d3nuXp3wtCpag23Xm\n\
q++xP/rqTjAyjyMhf3215e1ogxrPSuMEHBUnvw+jejB4MBYGA1UdEQQPMA2CC2Ri\n\
LmludGVybmFsMAkGA1UdEwQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYDVR0O\n\
BBYEFKZPZyZbVGUJk1TKU35LfKHWUI8oMB8GA1UdIwQYMBaAFJ0vb12GnIvB2c5e\n\
k3WMQjrxk1DnMAoGCCqGSM49BAMCA0gAMEUCICN//NZrP5G0vMCkoock0a9Twd0K\n\
MbxSGRnAAI9TiKD6AiEAh7sNX2CRvZrayph3uuyHKWmz1VQVJjQyveZbDjiCPgU=\n\
-----END CERTIFICATE-----";

    fn pem(text: &str) -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(text.as_bytes()).unwrap()
    }

    fn relaxed(roots: RootCertStore, check_chain: bool) -> Relaxed {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Relaxed {
            web_pki: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap(),
            check_chain,
        }
    }

    fn check(verifier: &dyn ServerCertVerifier, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(&pem(LEAF), &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn the_chain_level_checks_the_root_but_not_the_name() {
        let ours = root_store(false, &[("the test CA".into(), CA.as_bytes().to_vec())]).unwrap();
        assert_eq!(ours.len(), 1);
        // Full: the name must match.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let full = WebPkiServerVerifier::builder_with_provider(Arc::new(ours.clone()), provider)
            .build()
            .unwrap();
        check(full.as_ref(), "db.internal").unwrap();
        assert!(matches!(
            check(full.as_ref(), "127.0.0.1"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ));
        // Chain: any name, but only from a trusted root.
        let chain = relaxed(ours, true);
        check(&chain, "db.internal").unwrap();
        check(&chain, "127.0.0.1").unwrap();
        let web_pki_only = relaxed(root_store(true, &[]).unwrap(), true);
        assert!(matches!(
            check(&web_pki_only, "db.internal"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ));
        // Nothing: anything.
        check(
            &relaxed(root_store(true, &[]).unwrap(), false),
            "elsewhere.example",
        )
        .unwrap();
        for verify in [Verify::Nothing, Verify::Chain, Verify::Full] {
            client_config(verify, || root_store(true, &[])).unwrap();
        }
    }

    #[test]
    fn a_root_file_is_pem_or_der_and_a_bad_one_is_named() {
        let der = pem(CA).as_ref().to_vec();
        let roots = root_store(false, &[("a DER file".into(), der)]).unwrap();
        assert_eq!(roots.len(), 1);
        let error = root_store(
            false,
            &[("ssl-ca /etc/ca.pem".into(), b"not a cert".to_vec())],
        )
        .unwrap_err();
        assert!(error.contains("ssl-ca /etc/ca.pem"), "{error}");
        assert!(
            root_store(true, &[]).unwrap().len() > 100,
            "the web PKI roots"
        );
    }
}

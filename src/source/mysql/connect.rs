//! Connection options: TLS as the MySQL client's `ssl-mode` and `ssl-ca` URL parameters say.

use super::*;

/// Splits martsync's TLS parameters off a MySQL URL and turns them into `SslOpts`.
pub(super) fn tls_options(url: &str) -> std::result::Result<(String, Option<SslOpts>), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let mut mode = None;
    let mut ca = None;
    let mut rest = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match k.to_ascii_lowercase().replace('_', "-").as_str() {
            "ssl-mode" | "sslmode" => mode = Some(v.to_ascii_uppercase()),
            "ssl-ca" | "sslca" => ca = Some(v.into_owned()),
            _ => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    let base = SslOpts::default();
    let with_ca = |opts: SslOpts| match &ca {
        Some(path) => opts.with_root_certs(vec![std::path::PathBuf::from(path).into()]),
        None => opts,
    };
    let ssl = match mode.as_deref() {
        None | Some("DISABLED") | Some("PREFERRED") if ca.is_none() => None,
        // Encrypted but, like the MySQL client's REQUIRED, without checking who answers.
        Some("REQUIRED") => Some(
            base.with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Some("VERIFY_CA") => Some(with_ca(base).with_danger_skip_domain_validation(true)),
        None | Some("PREFERRED") | Some("VERIFY_IDENTITY") => Some(with_ca(base)),
        Some(other) => {
            return Err(format!(
                "ssl-mode `{other}` is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
            ));
        }
    };
    Ok((parsed.to_string(), ssl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_off_the_url() {
        let (url, ssl) =
            tls_options("mysql://u:p@h:3306/db?ssl-mode=REQUIRED&prefer_socket=false").unwrap();
        assert_eq!(url, "mysql://u:p@h:3306/db?prefer_socket=false");
        assert!(ssl.unwrap().accept_invalid_certs());
        let (_, ssl) = tls_options("mysql://u@h/db?ssl-mode=VERIFY_IDENTITY").unwrap();
        let ssl = ssl.unwrap();
        assert!(!ssl.accept_invalid_certs() && !ssl.skip_domain_validation());
        assert!(tls_options("mysql://u@h/db").unwrap().1.is_none());
        assert!(tls_options("mysql://u@h/db?ssl-mode=SOMETIMES").is_err());
    }
}

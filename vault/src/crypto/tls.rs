//! TLS for the vault's own connections (to PostgreSQL): rustls on ring, trusting the
//! system's certificate authorities and an operator's extra ones.

use std::path::Path;

/// A client configuration that verifies servers against the system's certificate
/// authorities and those in the PEM file `extra` (if given). The error names the file and
/// what is wrong with it.
pub fn tls_client_config(extra: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = extra {
        let pem =
            std::fs::read(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
        let mut added = 0;
        for cert in
            <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(
                &pem,
            )
        {
            let cert =
                cert.map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{} holds no certificate", path.display()));
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

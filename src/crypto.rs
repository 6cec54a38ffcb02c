//! The process's one TLS crypto provider: rustls over ring, the same provider the tls
//! collector's certificate checks use, so the binary carries one crypto library and no
//! OpenSSL. Every HTTPS or SMTP client is built after `install()`; this module never
//! configures anything else about TLS.

/// Make ring the process-wide rustls provider (reqwest and lettre read it). Calling it
/// again is harmless.
pub fn install() {
    // Err only means a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_clients_build_over_ring() {
        super::install();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        // reqwest built without its own provider would panic here without one.
        let _ = reqwest::Client::builder().build();
    }
}

//! TLS with `--cacert`: the file's certificates are trusted as roots, as curl and wget2
//! trust them, and a server certificate the file lists exactly is trusted as itself, even
//! when it is a CA certificate (what `openssl req -x509` makes by default), which WebPKI
//! otherwise refuses as a server's own (`CaUsedAsEndEntity`). Its dates and its names are
//! still checked. And what a TLS failure means, with what to do about it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::fetch::options::HttpVersion;

/// The certificates of a PEM bundle.
///
/// # Errors
/// The bundle holds no certificate, or one that cannot be read.
pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--cacert: not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("--cacert: no PEM certificate in the file".to_string());
    }
    Ok(certs)
}

/// A TLS configuration for clients that trust the system's roots, `listed` as roots too,
/// and each of `listed` as a server certificate of its own; ALPN as `http` asks.
///
/// # Errors
/// The platform's verifier cannot be built with these roots.
pub(crate) fn client_config(
    listed: Vec<CertificateDer<'static>>,
    http: HttpVersion,
) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let inner = rustls_platform_verifier::Verifier::new_with_extra_roots(
        listed.iter().cloned(),
        Arc::clone(&provider),
    )
    .map_err(|e| format!("--cacert: {e}"))?;
    let verifier = Listed {
        inner,
        listed,
        provider: Arc::clone(&provider),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = match http {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    Ok(config)
}

/// The crypto provider the build selected (installed by `install_tls_provider`).
fn provider() -> Arc<CryptoProvider> {
    if let Some(provider) = CryptoProvider::get_default() {
        return Arc::clone(provider);
    }
    #[cfg(feature = "rustls-ring")]
    return Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(not(feature = "rustls-ring"))]
    return Arc::new(rustls::crypto::aws_lc_rs::default_provider());
}

/// The platform's verifier, and past it the certificates `--cacert` lists exactly.
#[derive(Debug)]
struct Listed {
    inner: rustls_platform_verifier::Verifier,
    listed: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Listed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        if !self
            .listed
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Err(refused);
        }
        self.verify_listed(end_entity, server_name, now)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl Listed {
    /// A certificate `--cacert` lists exactly, checked as its own trust anchor: it must be
    /// within its dates, and name `server_name`. Being a CA certificate is no objection
    /// here (WebPKI checks the dates before it finds that).
    fn verify_listed(
        &self,
        cert: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let pki = |e: webpki::Error| rustls::Error::Other(rustls::OtherError(Arc::new(e)));
        let anchor = webpki::anchor_from_trusted_cert(cert).map_err(pki)?;
        let end_entity = webpki::EndEntityCert::try_from(cert).map_err(pki)?;
        let anchors = [anchor];
        let verified = end_entity.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            &anchors,
            &[],
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        );
        match verified {
            Ok(_) | Err(webpki::Error::CaUsedAsEndEntity) => {}
            Err(webpki::Error::CertExpired { .. } | webpki::Error::InvalidCertValidity) => {
                return Err(CertificateError::Expired.into());
            }
            Err(webpki::Error::CertNotValidYet { .. }) => {
                return Err(CertificateError::NotValidYet.into());
            }
            Err(e) => return Err(pki(e)),
        }
        end_entity
            .verify_is_valid_for_subject_name(server_name)
            .map_err(|_| CertificateError::NotValidForName.into())
    }
}

/// A TLS failure in words, with what to do about it, if `e` is one: told by its type
/// (rustls's errors, and WebPKI's inside them), never by its text.
pub(crate) fn explain(e: &rustls::Error) -> String {
    use rustls::{Error as R, InvalidMessage};
    const ISSUER: &str = "trust its issuer (or the certificate itself) with --cacert FILE, \
                          or skip verification with -k";
    const SKIP: &str = "-k skips verification";
    let (what, hint) = match e {
        R::InvalidMessage(InvalidMessage::InvalidContentType) => (
            "the server did not answer in TLS".to_string(),
            "is it a plain-HTTP port? try http://",
        ),
        R::InvalidMessage(m) => (
            format!("the server sent a malformed TLS message ({m:?})"),
            SKIP,
        ),
        R::InvalidCertificate(c) => certificate(c, ISSUER, SKIP),
        R::AlertReceived(alert) => (
            format!("the server ended the TLS handshake ({alert:?})"),
            "it may want --http1.1, or refuse this client",
        ),
        R::PeerIncompatible(p) => (
            format!("the server's TLS is incompatible ({p:?})"),
            "it may need a TLS version or cipher fetchpool does not offer",
        ),
        other => (other.to_string(), SKIP),
    };
    format!("{what} ({hint})")
}

/// A refused certificate in words, and what to do.
fn certificate(
    c: &CertificateError,
    issuer: &'static str,
    skip: &'static str,
) -> (String, &'static str) {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => (
            "the certificate is not signed by a trusted authority".into(),
            issuer,
        ),
        C::Expired | C::ExpiredContext { .. } => ("the certificate has expired".into(), skip),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            ("the certificate is not valid yet".into(), skip)
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => (
            "the certificate is not valid for this host name".into(),
            "the URL's host is not one the certificate names; -k skips the check",
        ),
        C::Revoked => ("the certificate has been revoked".into(), skip),
        C::BadSignature => ("the certificate's signature is invalid".into(), skip),
        C::BadEncoding => ("the certificate is malformed".into(), skip),
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => (
                "the server presented a CA certificate as its own".into(),
                "give that very certificate to --cacert FILE to trust it, or use -k",
            ),
            Some(e) => (format!("the certificate was rejected ({e})"), issuer),
            None => (format!("the certificate was rejected ({other})"), issuer),
        },
        other => (format!("the certificate was rejected ({other:?})"), issuer),
    }
}

//! TLS for the PostgreSQL archive, with rustls (ring): the `sslmode` and `sslrootcert` options
//! of the archive URL, with libpq's meanings.
//!
//! | `sslmode`            | TLS                          | the server's certificate                 |
//! |----------------------|------------------------------|------------------------------------------|
//! | `disable`            | never                        | -                                        |
//! | `prefer` (default)   | if the server offers it      | not checked                              |
//! | `require`            | always (else the connect fails) | not checked                           |
//! | `verify-ca`          | always                       | chains to `sslrootcert`                  |
//! | `verify-full`        | always                       | chains to `sslrootcert` and names the host |
//!
//! `require` encrypts against eavesdroppers but, as in libpq, does not authenticate the server:
//! use `verify-full` with `sslrootcert=PATH` (a PEM file of the CA certificates) across an
//! untrusted network. tokio-postgres knows only `disable`, `prefer` and `require`, so
//! [`split_url`] takes the verifying modes and `sslrootcert` out of the URL before it is parsed.

use std::{
    fmt, io,
    path::PathBuf,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::WebPkiSupportedAlgorithms,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::store::StoreError;

/// How the archive connects, from the URL's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, certificate not checked (the default).
    Prefer,
    /// TLS or fail, certificate not checked.
    Require,
    /// TLS, the certificate chains to `sslrootcert`.
    VerifyCa,
    /// TLS, the certificate chains to `sslrootcert` and names the host.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => {
                return Err(tls_err(format!(
                    "sslmode must be disable, prefer, require, verify-ca or verify-full, got {s:?}"
                )));
            }
        })
    }

    /// The value to show in errors.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of an archive URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    /// `sslmode`.
    pub(crate) mode: SslMode,
    /// `sslrootcert`: the PEM file of the CA certificates the verifying modes trust.
    pub(crate) root_cert: Option<PathBuf>,
}

fn tls_err(detail: impl fmt::Display) -> StoreError {
    StoreError::Backend { backend: "postgres", detail: detail.to_string() }
}

/// Splits an archive URL (`postgres://user@host:port/db?sslmode=...&sslrootcert=...`) into the
/// URL tokio-postgres parses (`verify-ca`/`verify-full` become `require`, `sslrootcert` is
/// taken out) and its TLS settings. Other forms (key=value strings) pass through unchanged.
pub(crate) fn split_url(url: &str) -> Result<(String, TlsOptions), StoreError> {
    let mut options = TlsOptions { mode: SslMode::Prefer, root_cert: None };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), options));
    };
    let mut kept = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key {
            "sslmode" => {
                options.mode = SslMode::parse(value)?;
                let passed = match options.mode {
                    SslMode::VerifyCa | SslMode::VerifyFull => "require",
                    other => other.as_str(),
                };
                kept.push(format!("sslmode={passed}"));
            }
            "sslrootcert" if !value.is_empty() => options.root_cert = Some(PathBuf::from(value)),
            "sslrootcert" => return Err(tls_err("sslrootcert needs a path: sslrootcert=PATH")),
            _ => kept.push(param.to_owned()),
        }
    }
    let verifying = matches!(options.mode, SslMode::VerifyCa | SslMode::VerifyFull);
    if verifying && options.root_cert.is_none() {
        return Err(tls_err(format!(
            "sslmode={} needs sslrootcert=PATH (a PEM file of the CA certificates to trust)",
            options.mode.as_str()
        )));
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, options))
}

/// The TLS connector the archive's pool uses (cheap to clone).
#[derive(Clone)]
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for RustlsConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsConnect").finish_non_exhaustive()
    }
}

impl RustlsConnect {
    /// A connector for `options` (reads `sslrootcert` for the verifying modes).
    pub(crate) fn new(options: &TlsOptions) -> Result<Self, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let config = match (&options.root_cert, options.mode) {
            (Some(path), SslMode::VerifyCa | SslMode::VerifyFull) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| tls_err(format!("sslrootcert {}: {e}", path.display())))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(tls_err(format!(
                        "sslrootcert {}: no usable CA certificate in it",
                        path.display()
                    )));
                }
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(tls_err)?;
                let verifier: Arc<dyn ServerCertVerifier> = if options.mode == SslMode::VerifyCa {
                    Arc::new(ChainOnly(webpki))
                } else {
                    webpki
                };
                builder.dangerous().with_custom_certificate_verifier(verifier)
            }
            _ => {
                let algorithms = provider.signature_verification_algorithms;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Unverified(algorithms)))
            }
        };
        Ok(Self { config: Arc::new(config.with_no_client_auth()) })
    }
}

/// `prefer` and `require`: the certificate is not checked (libpq's meaning), the handshake's
/// signatures are.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        // webpki checks the chain first and the name last: a name error means the chain is good.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(TlsError::InvalidCertificate(
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
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnectOne;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnectOne, io::Error> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnectOne { config: self.config.clone(), name })
    }
}

/// One connection's TLS handshake.
pub(crate) struct RustlsConnectOne {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnectOne
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config).connect(self.name, stream);
            Ok(RustlsStream(tls.await?))
        })
    }
}

/// A TLS connection to PostgreSQL.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (`tls-server-end-point` would need the certificate's
        // hash algorithm); password authentication still works.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_tokio_postgres_parses_and_the_tls_options() {
        let base = "postgres://wisp@127.0.0.1:5432/db";
        let (url, o) = split_url(base).unwrap();
        assert_eq!((url.as_str(), o.mode, o.root_cert), (base, SslMode::Prefer, None));
        for (mode, want) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
        ] {
            let (url, o) = split_url(&format!("{base}?sslmode={mode}")).unwrap();
            assert_eq!(url, format!("{base}?sslmode={mode}"));
            assert_eq!(o.mode, want);
        }
        let (url, o) = split_url(&format!(
            "{base}?application_name=wisp&sslmode=verify-full&sslrootcert=/etc/ca.pem"
        ))
        .unwrap();
        assert_eq!(url, format!("{base}?application_name=wisp&sslmode=require"));
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let (_, o) = split_url(&format!("{base}?sslmode=verify-ca&sslrootcert=ca.pem")).unwrap();
        assert_eq!(o.mode, SslMode::VerifyCa);
        let (url, _) = split_url(&format!("{base}?sslrootcert=ca.pem")).unwrap();
        assert_eq!(url, base);

        for (query, says) in [
            ("sslmode=allow", "sslmode must be disable, prefer, require, verify-ca or verify-full"),
            ("sslmode=verify-full", "sslmode=verify-full needs sslrootcert=PATH"),
            ("sslmode=verify-ca&sslrootcert=", "sslrootcert needs a path"),
        ] {
            let err = split_url(&format!("{base}?{query}")).unwrap_err().to_string();
            assert!(err.contains(says), "{query}: {err}");
        }
    }

    #[test]
    fn a_root_cert_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("wisp-pg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        for path in [empty, dir.join("missing.pem")] {
            let options = TlsOptions { mode: SslMode::VerifyFull, root_cert: Some(path.clone()) };
            let err = RustlsConnect::new(&options).unwrap_err().to_string();
            assert!(err.contains(&format!("sslrootcert {}", path.display())), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

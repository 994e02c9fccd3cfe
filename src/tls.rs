//! TLS for the node's listeners (rustls, with the `ring` provider): the certificate and key
//! from PEM files, and, when `tls.ca_cert_file` is given and `tls.auth_clients` asks for it,
//! client certificates checked against that authority. The server configuration is swapped
//! whole on reload (SIGHUP): connections keep the one they started with, new ones get the new.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use tokio_rustls::rustls;

use crate::config::{TlsAuthClients, TlsConfig};

pub struct Tls {
    files: TlsConfig,
    /// HTTPS's (ALPN `http/1.1`) and RESP's (no ALPN, as Redis's) configurations.
    http: ArcSwap<rustls::ServerConfig>,
    resp: ArcSwap<rustls::ServerConfig>,
    /// How this node calls its peers (`tls.cluster`): it trusts `tls.ca_cert_file` and shows
    /// its own certificate, for peers that ask for one.
    client: ArcSwap<Option<Arc<rustls::ClientConfig>>>,
}

/// Which listener a handshake is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Http,
    Resp,
}

impl Tls {
    /// Reads the files; the error names the file and what is wrong with it.
    pub fn load(files: &TlsConfig) -> Result<Tls, String> {
        let (http, resp) = server_configs(files)?;
        Ok(Tls {
            http: ArcSwap::from_pointee(http),
            resp: ArcSwap::from_pointee(resp),
            client: ArcSwap::from_pointee(client_config(files)?),
            files: files.clone(),
        })
    }

    /// Reads the files again; on an error the current certificate stays.
    pub fn reload(&self) -> Result<(), String> {
        let (http, resp) = server_configs(&self.files)?;
        let client = client_config(&self.files)?;
        self.http.store(Arc::new(http));
        self.resp.store(Arc::new(resp));
        self.client.store(Arc::new(client));
        Ok(())
    }

    pub fn acceptor(&self, listener: Listener) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(match listener {
            Listener::Http => self.http.load_full(),
            Listener::Resp => self.resp.load_full(),
        })
    }
}

impl Tls {
    /// A connector to a peer's TLS port; an error when no authority is configured.
    pub fn connector(&self) -> std::io::Result<tokio_rustls::TlsConnector> {
        match &**self.client.load() {
            Some(c) => Ok(tokio_rustls::TlsConnector::from(c.clone())),
            None => Err(std::io::Error::other(
                "TLS between peers needs tls.ca_cert_file (the peers' authority)",
            )),
        }
    }
}

/// The client side for peers: the authority in `tls.ca_cert_file`, this node's certificate.
fn client_config(files: &TlsConfig) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    let (Some(ca), Some(cert), Some(key)) =
        (&files.ca_cert_file, &files.cert_file, &files.key_file)
    else {
        return Ok(None);
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("tls.ca_cert_file {}: {e}", ca.display()))?;
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("tls.key_file {}: {e}", key.display()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(certificates(cert)?, key)
        .map_err(|e| {
            format!(
                "tls.cert_file {} as a client certificate: {e}",
                cert.display()
            )
        })?;
    Ok(Some(Arc::new(config)))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_configs(
    files: &TlsConfig,
) -> Result<(rustls::ServerConfig, rustls::ServerConfig), String> {
    let resp = server_config(files)?;
    let mut http = resp.clone();
    http.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((http, resp))
}

fn server_config(files: &TlsConfig) -> Result<rustls::ServerConfig, String> {
    let (Some(cert), Some(key)) = (&files.cert_file, &files.key_file) else {
        return Err("tls.cert_file and tls.key_file are both needed for a TLS listener".into());
    };
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("tls.key_file {}: {e}", key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (&files.ca_cert_file, files.auth_clients) {
        (_, TlsAuthClients::No) => builder.with_no_client_auth(),
        (None, _) => {
            return Err("tls.auth_clients needs tls.ca_cert_file (the clients' authority)".into());
        }
        (Some(ca), auth) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certificates(ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("tls.ca_cert_file {}: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            );
            let verifier = if auth == TlsAuthClients::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("tls.ca_cert_file {}: {e}", ca.display()))?,
            )
        }
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("tls.cert_file {} with its key: {e}", cert.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

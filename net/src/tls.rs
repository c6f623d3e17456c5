//! TLS for etcq/1: certificates that work on a newcomer's first run, and
//! verification that is never skipped.
//!
//! Server side, [`TlsServerMaterial::load_or_create`] either loads the
//! operator's certificate and key, or — with none given — creates once, under
//! `<data-dir>/tls/`, a private CA and a server certificate for `localhost`,
//! `127.0.0.1`, `::1` and the host name, and reuses them on every later start.
//! The CA's private key is never written anywhere: it signs the one server
//! certificate and is dropped, so trusting `ca.crt` trusts exactly that server.
//! The CA certificate is then published into the per-user trust directory
//! ([`trust_dir`]: `$ETCQ_TRUST_DIR`, else `$HOME/.config/etcq/trusted-ca/`),
//! where [`ClientTls::default_trust`] finds it: a client on the same machine
//! connects with no flags and full verification.
//!
//! There is no insecure mode. A client with no trusted CA at all fails with
//! [`TlsError::NoTrustedCa`], which says where it looked and what to do.
//!
//! Everything uses rustls with the `ring` provider, TLS 1.3 only (QUIC
//! requires it), ALPN [`ALPN_ETCQ`].

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The ALPN protocol id of etcq/1.
pub const ALPN_ETCQ: &[u8] = b"etcq/1";

/// Environment variable naming the per-user trust directory.
pub const TRUST_DIR_ENV: &str = "ETCQ_TRUST_DIR";

/// The trust directory under `$HOME` when [`TRUST_DIR_ENV`] is unset.
pub const TRUST_DIR_UNDER_HOME: &str = ".config/etcq/trusted-ca";

/// Subdirectory of the data directory holding generated material.
pub const GENERATED_TLS_DIR: &str = "tls";

/// File names of the generated material inside [`GENERATED_TLS_DIR`].
pub const CA_CERT_FILE: &str = "ca.crt";
/// See [`CA_CERT_FILE`].
pub const SERVER_CERT_FILE: &str = "server.crt";
/// See [`CA_CERT_FILE`]; written with mode 0600.
pub const SERVER_KEY_FILE: &str = "server.key";

/// How long generated certificates stay valid.
const GENERATED_VALIDITY_YEARS: i32 = 10;

/// Hex digits of the certificate's SHA-256 used to name it in the trust dir.
const TRUST_FILE_HASH_HEX: usize = 16;

/// Why TLS material could not be loaded, created or turned into a config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing (`read`, `write`, `create dir`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A PEM file holds nothing usable.
    #[error("{}: {reason}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The options given do not make a usable configuration.
    #[error("{0}")]
    Config(String),
    /// A client has no CA certificate to verify servers with.
    #[error(
        "no trusted CA certificate: looked in {searched}; start an etcq server on this \
         machine once (it publishes its CA there), or pass --cacert <ca.crt>"
    )]
    NoTrustedCa {
        /// Human-readable list of places searched.
        searched: String,
    },
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The rustls configuration cannot carry QUIC.
    #[error("QUIC TLS configuration: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

impl From<TlsError> for io::Error {
    fn from(err: TlsError) -> io::Error {
        match err {
            TlsError::Io { source, op, path } => {
                io::Error::new(source.kind(), format!("{op} {}: {source}", path.display()))
            }
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TlsError + 'a {
    move |source| TlsError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The per-user trust directory: `$ETCQ_TRUST_DIR`, else
/// `$HOME/.config/etcq/trusted-ca`; `None` if neither variable is set.
pub fn trust_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(TRUST_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(TRUST_DIR_UNDER_HOME))
}

// ------------------------------------------------------------------ PEM I/O

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(io_err("read", path))
}

/// Every certificate in a PEM file; an empty file is an error.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_path_buf(),
            reason: format!("cannot parse certificates: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::BadPem {
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| TlsError::BadPem {
            path: path.to_path_buf(),
            reason: format!("cannot parse private key: {e}"),
        })?
        .ok_or_else(|| TlsError::BadPem {
            path: path.to_path_buf(),
            reason: "no PRIVATE KEY block".into(),
        })
}

/// Creates `path` (which must not exist) with `bytes` and `mode`, and syncs it.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err("create", path))?;
    file.write_all(bytes).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("sync", path))
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .subsec_nanos();
    format!("{}-{nanos:08x}", std::process::id())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The machine's host name, if it has a usable one.
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration
    // of the call; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(buf.get(..len)?)
        .ok()?
        .trim()
        .to_string();
    (!name.is_empty() && name != "localhost").then_some(name)
}

// ------------------------------------------------------------------ server

/// A server's certificate chain and key, and optionally the CA its clients'
/// certificates must chain to (mutual TLS).
pub struct TlsServerMaterial {
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Vec<CertificateDer<'static>>,
    generated_ca: Option<PathBuf>,
    published_ca: Option<PathBuf>,
}

impl Clone for TlsServerMaterial {
    fn clone(&self) -> Self {
        TlsServerMaterial {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            client_ca: self.client_ca.clone(),
            generated_ca: self.generated_ca.clone(),
            published_ca: self.published_ca.clone(),
        }
    }
}

impl fmt::Debug for TlsServerMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("TlsServerMaterial")
            .field("cert_chain_len", &self.cert_chain.len())
            .field("client_auth", &!self.client_ca.is_empty())
            .field("generated_ca", &self.generated_ca)
            .field("published_ca", &self.published_ca)
            .finish_non_exhaustive()
    }
}

impl TlsServerMaterial {
    /// Loads the operator's `cert_file`/`key_file`, or — with neither given —
    /// the generated material under `<data_dir>/tls/`, creating it on first
    /// run and publishing its CA into [`trust_dir`] (best effort: a failure
    /// to publish is logged, not fatal).
    ///
    /// `trusted_ca`, if given, turns on client certificate verification:
    /// every client must present a certificate chaining to it.
    pub fn load_or_create(
        data_dir: &Path,
        cert_file: Option<&Path>,
        key_file: Option<&Path>,
        trusted_ca: Option<&Path>,
    ) -> Result<TlsServerMaterial, TlsError> {
        let mut material = match (cert_file, key_file) {
            (Some(cert), Some(key)) => return Self::from_pem_files(cert, key, trusted_ca),
            (Some(_), None) => {
                return Err(TlsError::Config(
                    "a certificate file was given without its key file".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(TlsError::Config(
                    "a key file was given without its certificate file".into(),
                ))
            }
            (None, None) => load_or_generate(&data_dir.join(GENERATED_TLS_DIR))?,
        };
        if let Some(ca) = trusted_ca {
            material.client_ca = load_certs(ca)?;
        }
        if let Some(ca_path) = material.generated_ca.clone() {
            match trust_dir() {
                None => tracing::warn!(
                    "neither {TRUST_DIR_ENV} nor HOME is set: clients must pass --cacert {}",
                    ca_path.display()
                ),
                Some(dir) => match publish_ca(&ca_path, &dir) {
                    Ok(published) => material.published_ca = Some(published),
                    Err(e) => tracing::warn!(
                        "cannot publish the CA certificate for local clients ({e}); \
                         they must pass --cacert {}",
                        ca_path.display()
                    ),
                },
            }
        }
        Ok(material)
    }

    /// Loads a certificate chain and key from PEM files.
    pub fn from_pem_files(
        cert_file: &Path,
        key_file: &Path,
        trusted_ca: Option<&Path>,
    ) -> Result<TlsServerMaterial, TlsError> {
        Ok(TlsServerMaterial {
            cert_chain: load_certs(cert_file)?,
            key: load_key(key_file)?,
            client_ca: match trusted_ca {
                Some(ca) => load_certs(ca)?,
                None => Vec::new(),
            },
            generated_ca: None,
            published_ca: None,
        })
    }

    /// The generated CA certificate file, if this material was generated.
    pub fn generated_ca(&self) -> Option<&Path> {
        self.generated_ca.as_deref()
    }

    /// Where the generated CA was published for local clients, if it was.
    pub fn published_ca(&self) -> Option<&Path> {
        self.published_ca.as_deref()
    }

    /// The server's certificate chain, leaf first.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.cert_chain
    }

    /// A rustls server configuration: ring, TLS 1.3, ALPN `etcq/1`, client
    /// certificates required iff a client CA was given.
    pub fn rustls_server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let builder = if self.client_ca.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for cert in &self.client_ca {
                roots.add(cert.clone())?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        };
        let mut config = builder.with_single_cert(self.cert_chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN_ETCQ.to_vec()];
        Ok(config)
    }

    /// The rustls configuration wrapped for quinn (transport parameters are
    /// set by [`crate::server::server_config`]).
    pub fn quic_crypto_config(
        &self,
    ) -> Result<Arc<quinn::crypto::rustls::QuicServerConfig>, TlsError> {
        Ok(Arc::new(quinn::crypto::rustls::QuicServerConfig::try_from(
            self.rustls_server_config()?,
        )?))
    }
}

/// Loads `<dir>/{ca.crt,server.crt,server.key}`, generating them first if
/// `dir` does not exist.
fn load_or_generate(dir: &Path) -> Result<TlsServerMaterial, TlsError> {
    if !dir.exists() {
        generate_into(dir)?;
    }
    let ca = dir.join(CA_CERT_FILE);
    let cert = dir.join(SERVER_CERT_FILE);
    let key = dir.join(SERVER_KEY_FILE);
    for file in [&ca, &cert, &key] {
        if !file.exists() {
            return Err(TlsError::Config(format!(
                "{} exists but lacks {}; remove the directory to have new certificates generated",
                dir.display(),
                file.display()
            )));
        }
    }
    // Validate the CA file now, so a broken one is reported at start-up.
    load_certs(&ca)?;
    let mut material = TlsServerMaterial::from_pem_files(&cert, &key, None)?;
    material.generated_ca = Some(ca);
    Ok(material)
}

/// Generates a CA and a server certificate into `dir` atomically: everything
/// is written into a temporary sibling directory which is then renamed to
/// `dir`. If another process won the race, its material is kept and ours
/// discarded, so CA and server certificate always belong together.
fn generate_into(dir: &Path) -> Result<(), TlsError> {
    let parent = dir
        .parent()
        .ok_or_else(|| TlsError::Config(format!("{} has no parent", dir.display())))?;
    fs::create_dir_all(parent).map_err(io_err("create dir", parent))?;
    let tmp = parent.join(format!(".{GENERATED_TLS_DIR}.tmp-{}", unique_suffix()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(io_err("create dir", &tmp))?;

    let result = (|| {
        let generated = generate_certificates()?;
        write_new_file(&tmp.join(CA_CERT_FILE), generated.ca_pem.as_bytes(), 0o644)?;
        write_new_file(
            &tmp.join(SERVER_CERT_FILE),
            generated.server_pem.as_bytes(),
            0o644,
        )?;
        write_new_file(
            &tmp.join(SERVER_KEY_FILE),
            generated.server_key_pem.as_bytes(),
            0o600,
        )?;
        match fs::rename(&tmp, dir) {
            Ok(()) => {
                tracing::info!(
                    "generated a CA and server certificate in {} (delete it to regenerate)",
                    dir.display()
                );
                Ok(())
            }
            // Lost a race with another process: keep the winner's material.
            Err(_) if dir.join(SERVER_KEY_FILE).exists() => Ok(()),
            Err(e) => Err(io_err("rename into", dir)(e)),
        }
    })();
    if tmp.exists() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

struct Generated {
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
}

fn random_serial() -> Result<rcgen::SerialNumber, TlsError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TlsError::Config("the system random generator failed".into()))?;
    bytes[0] &= 0x7f; // positive DER integer
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

fn generate_certificates() -> Result<Generated, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };

    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    // Calendar precision is not needed: validity starts a year back (clock
    // skew between machines) and ends GENERATED_VALIDITY_YEARS ahead.
    let year = 1970 + i32::try_from(secs / 31_556_952).unwrap_or(0);
    let not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    let not_after = rcgen::date_time_ymd(year + GENERATED_VALIDITY_YEARS, 1, 1);
    let host = hostname();

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let ca_serial = random_serial()?;
    let ca_name = format!(
        "etcq local CA {} {}",
        host.as_deref().unwrap_or("localhost"),
        ca_serial
            .as_ref()
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    ca_params.serial_number = Some(ca_serial);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(h) = &host {
        if rcgen::Ia5String::try_from(h.as_str()).is_ok() {
            names.push(h.clone());
        }
    }
    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names)?;
    params.serial_number = Some(random_serial()?);
    params
        .distinguished_name
        .push(DnType::CommonName, "etcq server");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // ClientAuth too: peers present the same certificate to each other.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    let server_cert = params.signed_by(&server_key, &ca_cert, &ca_key)?;
    // ca_key is dropped here and never written anywhere.

    Ok(Generated {
        ca_pem: ca_cert.pem(),
        server_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    })
}

/// Copies the CA certificate at `ca_path` into `dir` as
/// `<sha256-prefix>.crt` (atomically; a no-op if already there).
pub fn publish_ca(ca_path: &Path, dir: &Path) -> Result<PathBuf, TlsError> {
    let certs = load_certs(ca_path)?;
    let pem = read_file(ca_path)?;
    let first = certs.first().ok_or_else(|| TlsError::BadPem {
        path: ca_path.to_path_buf(),
        reason: "no certificate".into(),
    })?;
    let hash = sha256_hex(first.as_ref());
    let name = format!("{}.crt", hash.get(..TRUST_FILE_HASH_HEX).unwrap_or(&hash));
    let target = dir.join(name);
    if fs::read(&target).ok().as_deref() == Some(pem.as_slice()) {
        return Ok(target);
    }
    fs::create_dir_all(dir).map_err(io_err("create dir", dir))?;
    let tmp = dir.join(format!(".publish.tmp-{}", unique_suffix()));
    write_new_file(&tmp, &pem, 0o644)?;
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename into", &target)(e));
    }
    tracing::info!(
        "published the CA certificate for local clients: {}",
        target.display()
    );
    Ok(target)
}

// ------------------------------------------------------------------ client

/// What a client trusts, and optionally the certificate it presents.
pub struct ClientTls {
    roots: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    sources: Vec<PathBuf>,
}

impl Clone for ClientTls {
    fn clone(&self) -> Self {
        ClientTls {
            roots: self.roots.clone(),
            identity: self
                .identity
                .as_ref()
                .map(|(chain, key)| (chain.clone(), key.clone_key())),
            sources: self.sources.clone(),
        }
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("sources", &self.sources)
            .field("client_cert", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Trusts every certificate in [`trust_dir`] (files ending in `.crt` or
    /// `.pem`; unreadable ones are skipped with a warning) plus `cacert` if
    /// given. Fails if that adds up to no certificate at all.
    pub fn default_trust(cacert: Option<&Path>) -> Result<ClientTls, TlsError> {
        let mut tls = ClientTls {
            roots: Vec::new(),
            identity: None,
            sources: Vec::new(),
        };
        let dir = trust_dir();
        if let Some(dir) = &dir {
            tls.add_trust_dir(dir);
        }
        if let Some(ca) = cacert {
            tls = tls.with_ca_file(ca)?;
        }
        if tls.roots.is_empty() {
            return Err(TlsError::NoTrustedCa {
                searched: match dir {
                    Some(d) => d.display().to_string(),
                    None => format!("nowhere (neither {TRUST_DIR_ENV} nor HOME is set)"),
                },
            });
        }
        Ok(tls)
    }

    /// Trusts only `cacert`; presents `cert`/`key` if both are given.
    pub fn from_files(
        cacert: &Path,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<ClientTls, TlsError> {
        let tls = ClientTls {
            roots: load_certs(cacert)?,
            identity: None,
            sources: vec![cacert.to_path_buf()],
        };
        match (cert, key) {
            (Some(cert), Some(key)) => tls.with_client_identity(cert, key),
            (None, None) => Ok(tls),
            _ => Err(TlsError::Config(
                "a client certificate needs both --cert and --key".into(),
            )),
        }
    }

    /// Trusts exactly the given CA certificates (programmatic use, tests).
    pub fn from_ca_certs(roots: Vec<CertificateDer<'static>>) -> ClientTls {
        ClientTls {
            roots,
            identity: None,
            sources: Vec::new(),
        }
    }

    /// Also trusts the certificates in `path`.
    pub fn with_ca_file(mut self, path: &Path) -> Result<ClientTls, TlsError> {
        self.roots.extend(load_certs(path)?);
        self.sources.push(path.to_path_buf());
        Ok(self)
    }

    /// Presents this certificate chain and key to servers that ask (mTLS).
    pub fn with_client_identity(mut self, cert: &Path, key: &Path) -> Result<ClientTls, TlsError> {
        self.identity = Some((load_certs(cert)?, load_key(key)?));
        Ok(self)
    }

    /// Files the trusted certificates came from.
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    fn add_trust_dir(&mut self, dir: &Path) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("crt") | Some("pem")
                )
            })
            .collect();
        files.sort();
        for file in files {
            match load_certs(&file) {
                Ok(certs) => {
                    self.roots.extend(certs);
                    self.sources.push(file);
                }
                Err(e) => tracing::warn!("skipping trust file: {e}"),
            }
        }
    }

    /// A rustls client configuration: ring, TLS 1.3, ALPN `etcq/1`, servers
    /// verified against the trusted CAs (always; there is no way to skip it).
    pub fn rustls_client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        if self.roots.is_empty() {
            return Err(TlsError::NoTrustedCa {
                searched: "the given CA list (empty)".into(),
            });
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in &self.roots {
            roots.add(cert.clone())?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain.clone(), key.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_ETCQ.to_vec()];
        Ok(config)
    }

    /// The rustls configuration wrapped for quinn.
    pub fn quic_crypto_config(
        &self,
    ) -> Result<Arc<quinn::crypto::rustls::QuicClientConfig>, TlsError> {
        Ok(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(
            self.rustls_client_config()?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_material_is_reused_and_the_key_is_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("tls");
        let first = load_or_generate(&dir).expect("generate");
        let second = load_or_generate(&dir).expect("reuse");
        assert_eq!(first.cert_chain, second.cert_chain);
        let mode = fs::metadata(dir.join(SERVER_KEY_FILE))
            .expect("key")
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        assert!(!dir.join("ca.key").exists(), "the CA key is never stored");
        first.rustls_server_config().expect("server config");
    }

    #[test]
    fn publishing_names_the_file_by_hash_and_is_idempotent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("tls");
        load_or_generate(&dir).expect("generate");
        let trust = tmp.path().join("trust");
        let a = publish_ca(&dir.join(CA_CERT_FILE), &trust).expect("publish");
        let b = publish_ca(&dir.join(CA_CERT_FILE), &trust).expect("publish again");
        assert_eq!(a, b);
        let name = a.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(name.len(), TRUST_FILE_HASH_HEX + ".crt".len());
        assert_eq!(fs::read_dir(&trust).expect("dir").count(), 1);
    }

    #[test]
    fn half_given_server_files_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = TlsServerMaterial::load_or_create(
            tmp.path(),
            Some(Path::new("/nonexistent.crt")),
            None,
            None,
        )
        .expect_err("cert without key");
        assert!(matches!(err, TlsError::Config(_)));
    }

    #[test]
    fn a_client_with_no_trust_is_refused() {
        let err = ClientTls::from_ca_certs(Vec::new())
            .rustls_client_config()
            .expect_err("no roots");
        assert!(matches!(err, TlsError::NoTrustedCa { .. }));
    }
}

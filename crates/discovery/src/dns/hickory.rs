//! [`Resolver`] over real DNS with hickory-resolver (tokio).

use std::{future::Future, net::SocketAddr, time::Duration};

use hickory_resolver::{
    TokioResolver,
    config::{NameServerConfig, ResolverConfig, ResolverOpts},
    net::runtime::TokioRuntimeProvider,
    proto::rr::RData,
};

use crate::dns::{ResolveError, Resolver};

/// TXT lookups through hickory-resolver: the system's name servers, or one given server.
///
/// Each TXT record's character-strings are joined into one string. Cheap to clone (clones
/// share the resolver and its cache). Must be used inside a tokio runtime.
#[derive(Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryResolver").finish_non_exhaustive()
    }
}

impl HickoryResolver {
    /// A resolver using the system's configuration (`/etc/resolv.conf` on Unix).
    pub fn system() -> Result<Self, ResolveError> {
        let inner = TokioResolver::builder_tokio().and_then(|b| b.build()).map_err(|e| {
            ResolveError::Failed {
                name: "(system resolver configuration)".into(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self { inner })
    }

    /// A resolver that asks only `server` (UDP, then TCP for truncated answers), with
    /// `timeout` per attempt and two attempts. Its answers are cached by their TTLs.
    pub fn with_server(server: SocketAddr, timeout: Duration) -> Result<Self, ResolveError> {
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let config = ResolverConfig::from_name_servers(vec![name_server]);
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 2;
        let inner = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| ResolveError::Failed {
                name: server.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self { inner })
    }
}

impl Resolver for HickoryResolver {
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        // A fully qualified name: no search domains are tried.
        let fqdn = if name.ends_with('.') { name.to_owned() } else { format!("{name}.") };
        let name = name.to_owned();
        let inner = self.inner.clone();
        async move {
            let lookup = inner.txt_lookup(fqdn.as_str()).await.map_err(|e| {
                if e.is_no_records_found() || e.is_nx_domain() {
                    ResolveError::NotFound { name: name.clone() }
                } else {
                    ResolveError::Failed { name: name.clone(), reason: e.to_string() }
                }
            })?;
            let texts: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect();
            if texts.is_empty() {
                return Err(ResolveError::NotFound { name });
            }
            Ok(texts)
        }
    }
}

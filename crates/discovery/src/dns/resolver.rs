//! The TXT lookup a tree walk needs, as a trait, and its in-memory implementation.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
};

/// Why a TXT lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name has no TXT records (NXDOMAIN or an empty answer).
    #[error("no TXT record at {name}")]
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// The lookup itself failed (timeout, refused, malformed answer).
    #[error("TXT lookup of {name} failed: {reason}")]
    Failed {
        /// The name looked up.
        name: String,
        /// The resolver's reason.
        reason: String,
    },
}

/// Looks up the TXT records of a name.
///
/// Each returned string is one TXT record with its character-strings joined (a record longer
/// than 255 bytes is published as several strings).
pub trait Resolver {
    /// The TXT records at `name` (a domain name without a trailing dot).
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send;
}

impl<R: Resolver + Sync> Resolver for &R {
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        (**self).txt(name)
    }
}

/// TXT records held in memory, keyed by lower-case name; cheap to clone (clones share the
/// records) and counts its lookups.
#[derive(Clone, Debug, Default)]
pub struct MemoryResolver {
    inner: Arc<Mutex<MemoryZone>>,
}

#[derive(Debug, Default)]
struct MemoryZone {
    records: HashMap<String, Vec<String>>,
    lookups: u64,
}

impl MemoryResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolver holding `(name, text)` records, e.g. [`crate::dns::Tree::txt_records`].
    pub fn from_records(records: impl IntoIterator<Item = (String, String)>) -> Self {
        let resolver = Self::new();
        for (name, text) in records {
            resolver.add(&name, &text);
        }
        resolver
    }

    /// Adds one TXT record at `name`.
    pub fn add(&self, name: &str, text: &str) {
        self.zone().records.entry(normalize(name)).or_default().push(text.to_owned());
    }

    /// Replaces every record at `name` by `texts`.
    pub fn set(&self, name: &str, texts: Vec<String>) {
        self.zone().records.insert(normalize(name), texts);
    }

    /// Removes every record.
    pub fn clear(&self) {
        self.zone().records.clear();
    }

    /// How many lookups were made so far.
    pub fn lookups(&self) -> u64 {
        self.zone().lookups
    }

    fn zone(&self) -> std::sync::MutexGuard<'_, MemoryZone> {
        // A poisoned lock only means another test thread panicked; the map is still whole.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl Resolver for MemoryResolver {
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        let result = {
            let mut zone = self.zone();
            zone.lookups += 1;
            match zone.records.get(&normalize(name)) {
                Some(texts) if !texts.is_empty() => Ok(texts.clone()),
                _ => Err(ResolveError::NotFound { name: name.to_owned() }),
            }
        };
        std::future::ready(result)
    }
}

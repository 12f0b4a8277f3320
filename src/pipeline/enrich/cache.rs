//! The enrichment cache: what each website gave, under `.leadsite/cache/website.json`, with the
//! time it was fetched. Entries younger than the TTL are used instead of the network; `--offline`
//! uses any entry. One file read at start and written (atomically) at the end when it changed:
//! reading a hundred thousand small files would cost more than the enrichment itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::website::SiteFindings;
use crate::error::Result;
use crate::fsutil;

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    sites: BTreeMap<String, SiteFindings>,
}

#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    sites: BTreeMap<String, SiteFindings>,
    dirty: bool,
}

/// What the cache says about a site.
pub enum Lookup {
    Fresh,
    Stale,
    Missing,
}

impl Cache {
    pub fn path_in(work_dir: &Path) -> PathBuf {
        work_dir.join("cache").join("website.json")
    }

    /// Opens the cache file; a missing file is an empty cache. A file that cannot be read as a
    /// cache is set aside (the message says so) and the build goes on with an empty one.
    pub fn open(path: PathBuf) -> (Cache, Option<String>) {
        let mut warning = None;
        let sites = match crate::fsutil::read_state(&path) {
            Ok(Some(bytes)) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(s) if s.version == VERSION => s.sites,
                Ok(s) => {
                    warning = Some(format!(
                        "{}: cache version {} is not {VERSION}; starting a new cache",
                        path.display(),
                        s.version
                    ));
                    BTreeMap::new()
                }
                Err(e) => {
                    warning = Some(format!(
                        "{}: not a readable cache ({e}); starting a new cache",
                        path.display()
                    ));
                    BTreeMap::new()
                }
            },
            Ok(None) => BTreeMap::new(),
            Err(e) => {
                warning = Some(format!("{e}; starting a new cache"));
                BTreeMap::new()
            }
        };
        (
            Cache {
                path,
                sites,
                dirty: false,
            },
            warning,
        )
    }

    pub fn get(&self, url: &str, now: DateTime<Utc>, ttl: Duration) -> Lookup {
        match self.sites.get(url) {
            Some(s) if now - s.fetched_at < ttl => Lookup::Fresh,
            Some(_) => Lookup::Stale,
            None => Lookup::Missing,
        }
    }

    /// The entry for `url`, however old.
    pub fn entry(&self, url: &str) -> Option<&SiteFindings> {
        self.sites.get(url)
    }

    pub fn put(&mut self, url: String, findings: SiteFindings) {
        self.sites.insert(url, findings);
        self.dirty = true;
    }

    /// Writes the cache if anything was added.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let stored = StoredRef {
            version: VERSION,
            sites: &self.sites,
        };
        let bytes = serde_json::to_vec(&stored).expect("findings always serialize");
        fsutil::write_atomic(&self.path, &bytes, true)?;
        self.dirty = false;
        Ok(())
    }
}

#[derive(Serialize)]
struct StoredRef<'a> {
    version: u32,
    sites: &'a BTreeMap<String, SiteFindings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(at: DateTime<Utc>) -> SiteFindings {
        SiteFindings::empty(at)
    }

    #[test]
    fn entries_age_out_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::path_in(dir.path());
        let now = Utc::now();
        let (mut c, warning) = Cache::open(path.clone());
        assert!(warning.is_none() && c.sites.is_empty());
        c.put(
            "https://a.example/".into(),
            findings(now - Duration::days(40)),
        );
        c.put("https://b.example/".into(), findings(now));
        c.save().unwrap();
        let (c, _) = Cache::open(path);
        assert_eq!(c.sites.len(), 2);
        let ttl = Duration::days(30);
        assert!(matches!(
            c.get("https://a.example/", now, ttl),
            Lookup::Stale
        ));
        assert!(matches!(
            c.get("https://b.example/", now, ttl),
            Lookup::Fresh
        ));
        assert!(matches!(
            c.get("https://c.example/", now, ttl),
            Lookup::Missing
        ));
    }

    #[test]
    fn a_corrupt_cache_is_set_aside_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::path_in(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        let (c, warning) = Cache::open(path);
        assert!(c.sites.is_empty());
        assert!(warning.unwrap().contains("website.json"));
    }
}

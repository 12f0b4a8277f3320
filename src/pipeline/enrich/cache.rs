//! The enrichment cache: what each website gave, with the time it was fetched, under
//! `.leadsite/cache/website/XXX.json` — 4,096 shards, a site in the shard named by the top 12 bits
//! of its URL's FNV-1a digest (at 100,000 sites, ~25 a shard). Entries younger than the TTL are
//! used instead of the network; `--offline` uses any entry. A command reads only the shards that
//! hold the sites it asks about (in parallel), and writes (atomically) only the shards it
//! changed: a build of ten leads does not read a hundred thousand sites' findings, and one newly
//! read site does not rewrite them all. (One file per site would cost more to open than the enrichment itself at 100k.)
//! A cache of the first form, one `website.json`, is moved into shards the first time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::website::SiteFindings;
use crate::fsutil;

const VERSION: u32 = 2;
/// The one-file cache this replaces (version 1), moved into shards when found.
const OLD_FILE: &str = "website.json";
const SHARDS: usize = 4096;
/// A shard holds ~25 sites at 100,000 (~20 KB); a bigger file than this is not a shard of ours.
const MAX_SHARD: u64 = 64 * 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    sites: BTreeMap<String, SiteFindings>,
}

#[derive(Debug, Default)]
struct Shard {
    sites: BTreeMap<String, SiteFindings>,
    loaded: bool,
    dirty: bool,
}

#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    shards: Vec<Shard>,
    /// The one-file cache whose entries were moved into the shards: removed once they are saved.
    moved_from: Option<PathBuf>,
}

/// What the cache says about a site.
pub enum Lookup {
    Fresh,
    Stale,
    Missing,
}

/// The file of shard `i` in the cache folder `dir`.
fn shard_file(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i:03x}.json"))
}

/// The shard a site's URL is kept in.
fn shard_of(url: &str) -> usize {
    let mut h = fsutil::Fingerprint::default();
    h.add(url.as_bytes());
    (h.value() >> 52) as usize
}

impl Cache {
    /// The cache's folder in the work folder (`.leadsite/cache/website/`).
    pub fn dir_in(work_dir: &Path) -> PathBuf {
        work_dir.join("cache").join("website")
    }

    fn shard_path(&self, shard: usize) -> PathBuf {
        shard_file(&self.dir, shard)
    }

    /// Opens the cache in `dir`, reading the shards that hold `urls` (a missing shard is empty).
    /// A shard that cannot be read as one is started anew, with a warning naming it; the others
    /// are used. A one-file cache beside `dir` is read whole, once, and moved into shards.
    pub fn open(dir: PathBuf, urls: &[&String]) -> (Cache, Vec<String>) {
        let mut cache = Cache {
            dir,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            moved_from: None,
        };
        let mut warnings = Vec::new();
        let old = cache.dir.with_file_name(OLD_FILE);
        let mut wanted = vec![false; SHARDS];
        let moved = match fsutil::read_state(&old) {
            Ok(Some(bytes)) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(s) if s.version == 1 => {
                    // Every shard an old entry goes to is read first, so nothing in it is lost.
                    for url in s.sites.keys() {
                        wanted[shard_of(url)] = true;
                    }
                    cache.moved_from = Some(old.clone());
                    s.sites
                }
                Ok(s) => {
                    warnings.push(format!(
                        "{}: cache version {} is not 1; not used, left as it is",
                        old.display(),
                        s.version
                    ));
                    BTreeMap::new()
                }
                Err(e) => {
                    warnings.push(format!(
                        "{}: not a readable cache ({e}); not used, left as it is",
                        old.display()
                    ));
                    BTreeMap::new()
                }
            },
            Err(e) => {
                warnings.push(format!("{e}; not used, left as it is"));
                BTreeMap::new()
            }
            Ok(None) => BTreeMap::new(),
        };
        for url in urls {
            wanted[shard_of(url)] = true;
        }
        warnings.extend(cache.load(&wanted));
        for (url, findings) in moved {
            let shard = &mut cache.shards[shard_of(&url)];
            shard.sites.entry(url).or_insert(findings);
            shard.dirty = true;
        }
        (cache, warnings)
    }

    /// Reads the wanted shards not read yet, in parallel; returns a warning per unreadable one.
    fn load(&mut self, wanted: &[bool]) -> Vec<String> {
        let dir = &self.dir;
        let read: Vec<(usize, ShardRead)> = (0..SHARDS)
            .into_par_iter()
            .filter(|&i| wanted[i] && !self.shards[i].loaded)
            .map(|i| (i, read_shard(&shard_file(dir, i))))
            .collect();
        let mut warnings = Vec::new();
        for (i, sites) in read {
            let shard = &mut self.shards[i];
            shard.loaded = true;
            match sites {
                Ok(sites) => shard.sites = sites,
                Err(e) => warnings.push(format!(
                    "{e}; not used: its sites count as not cached (read again unless --offline)"
                )),
            }
        }
        warnings
    }

    pub fn get(&self, url: &str, now: DateTime<Utc>, ttl: Duration) -> Lookup {
        match self.entry(url) {
            Some(s) if now - s.fetched_at < ttl => Lookup::Fresh,
            Some(_) => Lookup::Stale,
            None => Lookup::Missing,
        }
    }

    /// The entry for `url`, however old (none when its shard was not read: ask at `open`).
    pub fn entry(&self, url: &str) -> Option<&SiteFindings> {
        self.shards[shard_of(url)].sites.get(url)
    }

    pub fn put(&mut self, url: String, findings: SiteFindings) {
        let i = shard_of(&url);
        if !self.shards[i].loaded {
            let mut wanted = vec![false; SHARDS];
            wanted[i] = true;
            // An unreadable shard is started anew; its warning was not asked for here.
            let _ = self.load(&wanted);
        }
        let shard = &mut self.shards[i];
        shard.sites.insert(url, findings);
        shard.dirty = true;
    }

    /// Writes the shards that changed; then removes a one-file cache moved into them. A cache
    /// only saves work: a shard that cannot be written is a warning (its sites are read again
    /// next time), never a failed build. Temp files a killed run left are removed first.
    pub fn save(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.shards.iter().any(|s| s.dirty) && self.moved_from.is_none() {
            return warnings;
        }
        fsutil::remove_stale_temps(&self.dir);
        let mut all_saved = true;
        for i in 0..SHARDS {
            if !self.shards[i].dirty {
                continue;
            }
            let stored = StoredRef {
                version: VERSION,
                sites: &self.shards[i].sites,
            };
            let bytes = serde_json::to_vec(&stored).expect("findings always serialize");
            let path = self.shard_path(i);
            // Not fsync'd: thousands of shards would each wait for the disk, and a shard a power
            // cut left empty is read as unreadable and its sites read again.
            match fsutil::write_atomic(&path, &bytes, false) {
                Ok(()) => self.shards[i].dirty = false,
                Err(e) => {
                    all_saved = false;
                    warnings.push(format!(
                        "{}: cache not written ({e}); its sites will be read again",
                        path.display()
                    ));
                }
            }
        }
        if all_saved {
            if let Some(old) = self.moved_from.take() {
                if let Err(e) = fsutil::remove_file(&old) {
                    warnings.push(format!("{e}: moved into shards, but not removed"));
                }
            }
        }
        warnings
    }
}

/// A shard's sites as read, or why it could not be.
type ShardRead = std::result::Result<BTreeMap<String, SiteFindings>, String>;

/// One shard's sites; a missing file is none.
fn read_shard(path: &Path) -> ShardRead {
    match fsutil::read_state_capped(path, MAX_SHARD) {
        Ok(Some(bytes)) => match serde_json::from_slice::<Stored>(&bytes) {
            Ok(s) if s.version == VERSION => Ok(s.sites),
            Ok(s) => Err(format!(
                "{}: cache version {} is not {VERSION}",
                path.display(),
                s.version
            )),
            Err(e) => Err(format!("{}: not a readable cache ({e})", path.display())),
        },
        Ok(None) => Ok(BTreeMap::new()),
        Err(e) => Err(e.to_string()),
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

    fn urls(list: &[String]) -> Vec<&String> {
        list.iter().collect()
    }

    #[test]
    fn entries_age_out_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::dir_in(dir.path());
        let now = Utc::now();
        let all = [
            "https://a.example/",
            "https://b.example/",
            "https://c.example/",
        ]
        .map(String::from);
        let (mut c, warnings) = Cache::open(path.clone(), &urls(&all));
        assert!(warnings.is_empty(), "{warnings:?}");
        c.put(all[0].clone(), findings(now - Duration::days(40)));
        c.put(all[1].clone(), findings(now));
        assert!(c.save().is_empty());
        let (c, _) = Cache::open(path, &urls(&all));
        let ttl = Duration::days(30);
        assert!(matches!(c.get(&all[0], now, ttl), Lookup::Stale));
        assert!(matches!(c.get(&all[1], now, ttl), Lookup::Fresh));
        assert!(matches!(c.get(&all[2], now, ttl), Lookup::Missing));
    }

    #[test]
    fn only_the_shards_asked_for_are_read_and_only_changed_ones_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::dir_in(dir.path());
        let now = Utc::now();
        let all: Vec<String> = (0..2000)
            .map(|i| format!("https://s{i}.example/"))
            .collect();
        let (mut c, _) = Cache::open(path.clone(), &urls(&all));
        for u in &all {
            c.put(u.clone(), findings(now));
        }
        assert!(c.save().is_empty());
        let mut used: Vec<usize> = all.iter().map(|u| shard_of(u)).collect();
        used.sort_unstable();
        used.dedup();
        assert!(used.len() > 1000, "the sites spread over the shards");
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), used.len());

        let one = &all[7..8];
        let (mut c, _) = Cache::open(path.clone(), &urls(one));
        let read = c.shards.iter().filter(|s| s.loaded).count();
        assert_eq!(read, 1);
        assert!(c.entry(&one[0]).is_some());
        // Another site's shard is read before it is written: its other sites stay.
        let shard = shard_of(&all[1000]);
        let before = c.shards.iter().filter(|s| s.loaded).count();
        c.put(all[1000].clone(), findings(now - Duration::days(1)));
        assert_eq!(c.shards.iter().filter(|s| s.loaded).count(), before + 1);
        let other = used.into_iter().find(|&s| s != shard).unwrap();
        let (other_path, shard_path) = (c.shard_path(other), c.shard_path(shard));
        let stamp = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let (other_before, written_before) = (stamp(&other_path), stamp(&shard_path));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.save().is_empty());
        assert_eq!(
            stamp(&other_path),
            other_before,
            "an unchanged shard is not written"
        );
        assert_ne!(stamp(&shard_path), written_before);
        let (c, _) = Cache::open(path, &urls(&all));
        assert!(all.iter().all(|u| c.entry(u).is_some()));
    }

    #[test]
    fn a_corrupt_shard_is_started_anew_with_a_warning_and_the_rest_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::dir_in(dir.path());
        let now = Utc::now();
        let all: Vec<String> = (0..600).map(|i| format!("https://s{i}.example/")).collect();
        let (mut c, _) = Cache::open(path.clone(), &urls(&all));
        for u in &all {
            c.put(u.clone(), findings(now));
        }
        assert!(c.save().is_empty());
        let bad = shard_of(&all[0]);
        std::fs::write(c.shard_path(bad), b"{not json").unwrap();
        let (c, warnings) = Cache::open(path, &urls(&all));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(&format!("{bad:03x}.json")),
            "{warnings:?}"
        );
        assert!(c.entry(&all[0]).is_none());
        let kept = all.iter().filter(|u| c.entry(u).is_some()).count();
        let lost = all.iter().filter(|u| shard_of(u) == bad).count();
        assert_eq!(kept, all.len() - lost);
    }

    #[test]
    fn a_one_file_cache_is_moved_into_shards() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::dir_in(dir.path());
        let old = path.with_file_name(OLD_FILE);
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        let now = Utc::now();
        let sites: BTreeMap<String, SiteFindings> = (0..50)
            .map(|i| (format!("https://s{i}.example/"), findings(now)))
            .collect();
        let v1 = StoredRef {
            version: 1,
            sites: &sites,
        };
        std::fs::write(&old, serde_json::to_vec(&v1).unwrap()).unwrap();
        let (mut c, warnings) = Cache::open(path.clone(), &[]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(c.save().is_empty());
        assert!(!old.exists());
        let keys: Vec<&String> = sites.keys().collect();
        let (c, _) = Cache::open(path, &keys);
        assert!(sites.keys().all(|u| c.entry(u) == sites.get(u)));
    }

    #[test]
    fn a_cache_that_cannot_be_written_is_a_warning_and_killed_runs_temps_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::dir_in(dir.path());
        let url = "https://a.example/".to_string();
        let (mut c, _) = Cache::open(path.clone(), &[&url]);
        let shard = c.shard_path(shard_of(&url));
        std::fs::create_dir_all(&shard).unwrap();
        let left = path.join(".000.json.4194399.0.tmp");
        std::fs::write(&left, b"half").unwrap();
        c.put(url.clone(), findings(Utc::now()));
        let warnings = c.save();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(&shard.display().to_string())
                && warnings[0].contains("read again"),
            "{warnings:?}"
        );
        assert!(!left.exists(), "a dead run's temp file is removed");
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn an_unusable_one_file_cache_is_left_as_it_is_and_a_huge_shard_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cache::dir_in(dir.path());
        let old = path.with_file_name(OLD_FILE);
        std::fs::create_dir_all(&path).unwrap();
        let url = "https://a.example/".to_string();
        for text in [&b"{not json"[..], br#"{"version":3,"sites":{}}"#] {
            std::fs::write(&old, text).unwrap();
            let (mut c, warnings) = Cache::open(path.clone(), &[&url]);
            assert!(
                warnings.len() == 1 && warnings[0].contains("left as it is"),
                "{warnings:?}"
            );
            c.put(url.clone(), findings(Utc::now()));
            assert!(c.save().is_empty());
            assert_eq!(std::fs::read(&old).unwrap(), text);
        }
        let shard = path.join(format!("{:03x}.json", shard_of(&url)));
        let huge = std::fs::File::create(&shard).unwrap();
        huge.set_len(MAX_SHARD + 1).unwrap();
        let (c, warnings) = Cache::open(path, &[&url]);
        assert!(c.entry(&url).is_none());
        assert!(
            warnings.iter().any(|w| w.contains("larger than")),
            "{warnings:?}"
        );
    }
}

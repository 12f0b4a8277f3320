//! The lead files as last parsed, kept between commands in `.leadsite/cache/leads/snapshot.jsonl`,
//! so that a build parses only the files that changed: YAML is the form a person edits, and
//! parsing 10,000 of them was 0.4 s of every rebuild; the same leads as JSON read in a tenth.
//!
//! A header line (format, leadsite's version and binary, the folder), then a line per file in
//! path order: `{"path", "stamp", "hash", "shape"}`, a tab, and the file's leads as a JSON array
//! (JSON never writes a raw tab, so the first tab ends the head; a file's leads are parsed only
//! when its head matches the file on disk). A file is taken from the snapshot only when its
//! stamp — size, modification and change times to the nanosecond, inode and device — is the one
//! recorded. A file changed within two seconds of being read could change again without a new
//! stamp (a timestamp has the kernel's tick, not a nanosecond): its content digest is kept too and
//! checked, as Git does for a "racily clean" index entry.
//!
//! Never trusted over the files: a snapshot of another format, binary or folder, or with any line
//! that does not read, is not used (every file is parsed, and a new one written). Only a file
//! whose leads read back from JSON equal to those parsed from YAML is kept (a YAML tag or a key
//! written `1:` has no JSON form); a file with any error is not kept (its errors are reported
//! each time). Writing it is only a saving: a failure is a warning.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::load::{lead_paths, load_text, read_file, LeadFile, LoadedLeads, Shape};
use super::Lead;
use crate::error::InputError;
use crate::fsutil;

const FORMAT: u32 = 1;
/// A file whose times are this close to the moment it was read is checked by its content.
const RACY: Duration = Duration::from_secs(2);
/// A line longer than this is not one we wrote (a lead file is at most 16 MiB of YAML).
const MAX_LINE: u64 = 64 * 1024 * 1024;
/// Lines parsed together, in parallel.
const BATCH: usize = 512;

/// Where the snapshot of a project's leads is kept.
pub fn path_in(work_dir: &Path) -> PathBuf {
    work_dir.join("cache").join("leads").join("snapshot.jsonl")
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Header {
    format: u32,
    leadsite: String,
    binary: String,
    dir: String,
}

impl Header {
    fn of(dir: &Path) -> Header {
        Header {
            format: FORMAT,
            leadsite: env!("CARGO_PKG_VERSION").into(),
            binary: fsutil::binary_id(),
            dir: dir.to_string_lossy().into_owned(),
        }
    }
}

/// What says a file is the one last read, without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                len: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
                dev: meta.dev(),
            }
        }
        #[cfg(not(unix))]
        {
            let nanos = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64);
            Stamp {
                len: meta.len(),
                mtime: (nanos, 0),
                ctime: (0, 0),
                ino: 0,
                dev: 0,
            }
        }
    }

    /// Whether the file may change again without its stamp changing: its newest time is within
    /// `window` of `now` (or later). Without inode and change time, always.
    fn racy(&self, now: SystemTime, window: Duration) -> bool {
        if cfg!(not(unix)) {
            return true;
        }
        let (secs, nanos) = self.mtime.max(self.ctime);
        let newest = Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32);
        now.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(true, |now| now < newest + window)
    }
}

/// A file's line, before its leads are read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    path: String,
    stamp: Stamp,
    /// The content's digest, for a file read while it was racy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<u64>,
    shape: Shape,
}

/// What loading with a snapshot did, for the build's report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Files taken from the snapshot.
    pub reused: usize,
    /// Files parsed from YAML.
    pub parsed: usize,
    /// Whether the snapshot was written.
    pub written: bool,
    /// A snapshot that could not be read or written.
    pub warnings: Vec<String>,
}

/// One lead file as this run found it.
enum Found {
    /// Taken from the snapshot; `dropped_hash` when it was racy and no longer is.
    Reused { head: Head, dropped_hash: bool },
    /// Parsed; with the head to keep it under, when it may be kept.
    Parsed(Option<Head>),
    /// Not read (its error is said).
    Unread,
}

/// [`super::load_dir`], parsing only the files that changed since the snapshot at `snapshot`
/// was written; the snapshot is then brought up to date.
pub fn load_dir(dir: &Path, snapshot: &Path) -> (LoadedLeads, Stats) {
    load_dir_within(dir, snapshot, RACY, true)
}

/// [`load_dir`] that never writes the snapshot: for a command that changes nothing (`check`,
/// `export`, a dry run) or runs without the project lock.
pub fn read_dir(dir: &Path, snapshot: &Path) -> (LoadedLeads, Stats) {
    load_dir_within(dir, snapshot, RACY, false)
}

/// [`load_dir`] with files changed within `racy` of being read checked by their content; the
/// snapshot is written only with `save`.
fn load_dir_within(
    dir: &Path,
    snapshot: &Path,
    racy: Duration,
    save: bool,
) -> (LoadedLeads, Stats) {
    let mut stats = Stats::default();
    let (paths, errors) = lead_paths(dir);
    // Each file's name under `dir` and stamp, taken before it is read; a file that cannot be
    // looked at (or has a name that is not UTF-8) is parsed each time.
    let names: Vec<Option<(String, Stamp)>> = paths
        .par_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).ok()?.to_str()?.to_string();
            let meta = fsutil::symlink_metadata(p).ok()?;
            Some((rel, Stamp::of(&meta)))
        })
        .collect();
    let stamps: HashMap<&str, Stamp> = names
        .iter()
        .flatten()
        .map(|(rel, stamp)| (rel.as_str(), *stamp))
        .collect();
    // `usable`: the snapshot's lines are this run's to compare with; `spoiled`: it cannot be
    // read, and is replaced even when nothing is kept.
    let (mut old, old_lines, usable, spoiled) = match read(snapshot, &Header::of(dir), &stamps) {
        Ok(Some((old, lines))) => (old, lines, true, false),
        Ok(None) => (HashMap::new(), 0, false, false),
        Err(why) => {
            stats.warnings.push(format!(
                "{}: {why}; not used (every lead file is read again)",
                snapshot.display()
            ));
            (HashMap::new(), 0, false, true)
        }
    };
    let stored: Vec<Option<(Head, Vec<Lead>)>> = names
        .iter()
        .map(|n| n.as_ref().and_then(|(rel, _)| old.remove(rel.as_str())))
        .collect();
    drop(old);
    let found: Vec<(Option<LeadFile>, Vec<InputError>, Found)> = paths
        .into_par_iter()
        .zip(names.into_par_iter())
        .zip(stored.into_par_iter())
        .map(|((path, name), stored)| {
            let now = SystemTime::now();
            if let Some((mut head, leads)) = stored {
                // Taken as it was; a racy one only when its content is still the same.
                let same = match head.hash {
                    None => true,
                    Some(hash) => read_file(&path).is_ok_and(|t| digest(&t) == hash),
                };
                if same {
                    let dropped_hash = head.hash.is_some() && !head.stamp.racy(now, racy);
                    if dropped_hash {
                        head.hash = None;
                    }
                    let file = LeadFile {
                        path,
                        shape: head.shape,
                        leads,
                    };
                    return (Some(file), Vec::new(), Found::Reused { head, dropped_hash });
                }
            }
            parse(path, name, racy)
        })
        .collect();
    let mut loaded = LoadedLeads {
        files: Vec::with_capacity(found.len()),
        errors,
    };
    let mut heads = Vec::with_capacity(found.len());
    let mut changed = false;
    for (file, errs, how) in found {
        loaded.errors.extend(errs);
        let head = match how {
            Found::Reused { head, dropped_hash } => {
                stats.reused += 1;
                changed |= dropped_hash;
                Some(head)
            }
            Found::Parsed(head) => {
                stats.parsed += 1;
                changed |= head.is_some();
                head
            }
            Found::Unread => {
                stats.parsed += 1;
                None
            }
        };
        if let Some(file) = file {
            heads.push(head);
            loaded.files.push(file);
        }
    }
    // Lines of files gone, changed or no longer kept are dropped.
    changed |= stats.reused != old_lines;
    let keep_any = heads.iter().any(Option::is_some);
    let write_it = if usable { changed } else { keep_any || spoiled };
    if write_it && save {
        match write(snapshot, &Header::of(dir), &loaded.files, &heads) {
            Ok(()) => stats.written = true,
            Err(e) => stats.warnings.push(format!(
                "{e}: the snapshot of the leads was not written (they are parsed again next time)"
            )),
        }
    }
    (loaded, stats)
}

/// Reads and parses one file; keeps it (a head) only when it read without an error and its leads
/// read back from JSON as they are.
fn parse(
    path: PathBuf,
    name: Option<(String, Stamp)>,
    racy: Duration,
) -> (Option<LeadFile>, Vec<InputError>, Found) {
    let text = match read_file(&path) {
        Ok(text) => text,
        Err(e) => return (None, vec![e], Found::Unread),
    };
    let now = SystemTime::now();
    let (file, errors) = load_text(&text, &path);
    let Some(file) = file else {
        return (None, errors, Found::Unread);
    };
    let head = match name {
        Some((rel, stamp)) if errors.is_empty() && round_trips(&file.leads) => Some(Head {
            path: rel,
            stamp,
            hash: stamp.racy(now, racy).then(|| digest(&text)),
            shape: file.shape,
        }),
        _ => None,
    };
    (Some(file), errors, Found::Parsed(head))
}

/// Whether leads written as JSON read back the same.
fn round_trips(leads: &[Lead]) -> bool {
    serde_json::to_vec(leads)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<Lead>>(&bytes).ok())
        .is_some_and(|back| back == leads)
}

/// The snapshot's files whose stamps are those in `stamps`, with their leads, and how many lines
/// it has. `None` when there is none, or it is of another format, binary or folder; an error
/// when it cannot be read as one.
#[allow(clippy::type_complexity)]
fn read(
    path: &Path,
    header: &Header,
    stamps: &HashMap<&str, Stamp>,
) -> Result<Option<(HashMap<String, (Head, Vec<Lead>)>, usize)>, String> {
    let file = match fsutil::open_state(path) {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    if next_line(&mut reader, &mut line)?.is_none() {
        return Err("empty".into());
    }
    match serde_json::from_slice::<Header>(&line) {
        Ok(h) if h == *header => {}
        Ok(_) => return Ok(None),
        Err(e) => return Err(format!("line 1: {e}")),
    }
    let mut found = HashMap::new();
    let mut lines = 0;
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    loop {
        let done = next_line(&mut reader, &mut line)?.is_none();
        if !done {
            batch.push(std::mem::take(&mut line));
        }
        if batch.len() == BATCH || done && !batch.is_empty() {
            let first = lines + 2;
            let parsed: Vec<Result<Option<(Head, Vec<Lead>)>, String>> = batch
                .par_iter()
                .enumerate()
                .map(|(i, l)| entry(l, stamps).map_err(|e| format!("line {}: {e}", first + i)))
                .collect();
            lines += batch.len();
            batch.clear();
            for p in parsed {
                if let Some((head, leads)) = p? {
                    let rel = head.path.clone();
                    if found.insert(rel, (head, leads)).is_some() {
                        return Err(format!("a file named twice before line {}", lines + 2));
                    }
                }
            }
        }
        if done {
            return Ok(Some((found, lines)));
        }
    }
}

/// The next line without its newline; `None` at the end. A last line without a newline was cut
/// short (every line is written with one), a line past [`MAX_LINE`] is not ours: both errors.
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> Result<Option<()>, String> {
    line.clear();
    let n = reader
        .by_ref()
        .take(MAX_LINE + 1)
        .read_until(b'\n', line)
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(if n as u64 > MAX_LINE {
            "a line too long".into()
        } else {
            "cut short".into()
        });
    }
    Ok(Some(()))
}

/// One file's line: its head, and its leads when the file on disk has the stamp recorded.
fn entry(line: &[u8], stamps: &HashMap<&str, Stamp>) -> Result<Option<(Head, Vec<Lead>)>, String> {
    let tab = line
        .iter()
        .position(|&b| b == b'\t')
        .ok_or("no tab after the head")?;
    let head: Head = serde_json::from_slice(&line[..tab]).map_err(|e| e.to_string())?;
    if stamps.get(head.path.as_str()) != Some(&head.stamp) {
        return Ok(None);
    }
    let mut leads: Vec<Lead> =
        serde_json::from_slice(&line[tab + 1..]).map_err(|e| e.to_string())?;
    leads.iter_mut().for_each(Lead::shrink_to_fit);
    Ok(Some((head, leads)))
}

/// Writes the snapshot of the files that have a head (atomically; not fsync'd: a snapshot a power
/// cut spoiled is found unreadable and rebuilt).
fn write(
    path: &Path,
    header: &Header,
    files: &[LeadFile],
    heads: &[Option<Head>],
) -> crate::error::Result<()> {
    if let Some(dir) = path.parent() {
        fsutil::remove_stale_temps(dir);
    }
    let kept: Vec<(&Head, &LeadFile)> = heads
        .iter()
        .zip(files)
        .filter_map(|(head, file)| Some((head.as_ref()?, file)))
        .collect();
    fsutil::write_atomic_with(path, |out| {
        let mut first = serde_json::to_vec(header).expect("a header serializes");
        first.push(b'\n');
        out.write_all(&first)
            .map_err(|e| fsutil::io_error(path, e))?;
        fsutil::write_in_parallel(out, path, &kept, |(head, file), buf| {
            // Heads and leads always serialize (the leads were just read back from JSON).
            let _ = serde_json::to_writer(&mut *buf, head);
            buf.push(b'\t');
            let _ = serde_json::to_writer(&mut *buf, &file.leads);
            buf.push(b'\n');
            Ok(())
        })
    })
}

fn digest(text: &str) -> u64 {
    let mut f = fsutil::Fingerprint::default();
    f.add(text.as_bytes());
    f.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const NONE: Duration = Duration::ZERO;

    struct Dir {
        _tmp: tempfile::TempDir,
        leads: PathBuf,
        snapshot: PathBuf,
    }

    fn project(files: &[(&str, &str)]) -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let leads = tmp.path().join("leads");
        fs::create_dir_all(leads.join("sub")).unwrap();
        for (name, text) in files {
            fs::write(leads.join(name), text).unwrap();
        }
        let snapshot = path_in(&tmp.path().join(".leadsite"));
        Dir {
            _tmp: tmp,
            leads,
            snapshot,
        }
    }

    fn lead(key: &str) -> String {
        format!("dedup_key: {key}\nname: Biz {key}\nroute: TARGET\nrating: 4.5\nopening: {{mo: 9-17}}\n")
    }

    /// Loads with the snapshot and checks the result is what parsing every file gives.
    fn load(d: &Dir, racy: Duration) -> Stats {
        let (loaded, stats) = load_dir_within(&d.leads, &d.snapshot, racy, true);
        let plain = super::super::load_dir(&d.leads);
        assert_eq!(loaded.files, plain.files);
        assert_eq!(
            format!("{:?}", loaded.errors),
            format!("{:?}", plain.errors)
        );
        stats
    }

    fn counts(s: &Stats) -> (usize, usize, bool) {
        (s.parsed, s.reused, s.written)
    }

    #[test]
    fn unchanged_files_are_taken_from_it_and_changed_ones_parsed() {
        let d = project(&[
            ("a.yaml", &lead("a")),
            ("b.yaml", &format!("- {}", lead("b").replace('\n', "\n  "))),
            ("sub/c.yml", &format!("{}---\n{}", lead("c"), lead("d"))),
        ]);
        assert_eq!(counts(&load(&d, NONE)), (3, 0, true));
        assert_eq!(counts(&load(&d, NONE)), (0, 3, false));
        fs::write(d.leads.join("a.yaml"), lead("a").replace("4.5", "3.25")).unwrap();
        assert_eq!(counts(&load(&d, NONE)), (1, 2, true));
        fs::remove_file(d.leads.join("b.yaml")).unwrap();
        assert_eq!(counts(&load(&d, NONE)), (0, 2, true));
        fs::write(d.leads.join("e.yaml"), lead("e")).unwrap();
        assert_eq!(counts(&load(&d, NONE)), (1, 2, true));
        assert_eq!(counts(&load(&d, NONE)), (0, 3, false));
    }

    #[test]
    fn a_file_whose_stamp_is_the_same_but_content_not_is_read_again_when_it_was_racy() {
        let d = project(&[("a.yaml", &lead("a")), ("b.yaml", &lead("b"))]);
        // Read just after being written: racy, so its content digest is kept.
        assert_eq!(counts(&load(&d, RACY)), (2, 0, true));
        // The same size, and the stamp the snapshot has (as when a second write falls in the
        // same tick of the clock as the first): only the digest can tell.
        let path = d.leads.join("a.yaml");
        fs::write(&path, lead("a").replace("4.5", "3.5")).unwrap();
        let stamp = Stamp::of(&fs::metadata(&path).unwrap());
        let text = fs::read_to_string(&d.snapshot).unwrap();
        let forged: String = text
            .lines()
            .map(|l| match l.split_once('\t') {
                Some((head, leads)) if head.contains("\"a.yaml\"") => {
                    let mut h: Head = serde_json::from_str(head).unwrap();
                    assert!(h.hash.is_some(), "a racy file keeps its digest: {head}");
                    h.stamp = stamp;
                    format!("{}\t{leads}\n", serde_json::to_string(&h).unwrap())
                }
                _ => format!("{l}\n"),
            })
            .collect();
        fs::write(&d.snapshot, forged).unwrap();
        let s = load(&d, RACY);
        assert_eq!((s.parsed, s.reused), (1, 1));
        // Once old enough, a verified file keeps no digest (the snapshot is written once more).
        assert!(load(&d, NONE).written);
        let text = fs::read_to_string(&d.snapshot).unwrap();
        assert!(!text.contains("\"hash\""), "{text}");
        assert_eq!(counts(&load(&d, NONE)), (0, 2, false));
    }

    #[test]
    fn a_spoiled_snapshot_is_said_and_replaced_and_one_of_another_binary_is_replaced() {
        let d = project(&[("a.yaml", &lead("a")), ("b.yaml", &lead("b"))]);
        load(&d, NONE);
        let text = fs::read_to_string(&d.snapshot).unwrap();
        for spoiled in [
            text[..text.len() - 20].to_string(),
            text.replace("\"name\":\"Biz a\"", "\"name\":5"),
            text.replacen('\t', " ", 1),
            format!("{text}{}", text.lines().nth(1).unwrap()) + "\n",
            String::new(),
        ] {
            fs::write(&d.snapshot, &spoiled).unwrap();
            let s = load(&d, NONE);
            assert_eq!(counts(&s), (2, 0, true), "{spoiled}");
            assert!(
                s.warnings.len() == 1 && s.warnings[0].contains("snapshot.jsonl"),
                "{:?}",
                s.warnings
            );
            assert_eq!(counts(&load(&d, NONE)), (0, 2, false));
        }
        let other = text.replacen(&format!("\"format\":{FORMAT}"), "\"format\":0", 1);
        fs::write(&d.snapshot, other).unwrap();
        let s = load(&d, NONE);
        assert_eq!(counts(&s), (2, 0, true));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn reading_without_saving_uses_the_snapshot_and_never_writes_it() {
        let d = project(&[("a.yaml", &lead("a")), ("b.yaml", &lead("b"))]);
        let (_, s) = read_dir(&d.leads, &d.snapshot);
        assert_eq!(counts(&s), (2, 0, false));
        assert!(!d.snapshot.exists());
        load(&d, NONE);
        fs::write(d.leads.join("a.yaml"), lead("a").replace("4.5", "1.5")).unwrap();
        let before = fs::read(&d.snapshot).unwrap();
        let (loaded, s) = read_dir(&d.leads, &d.snapshot);
        assert_eq!(counts(&s), (1, 1, false));
        assert_eq!(loaded.files, super::super::load_dir(&d.leads).files);
        assert_eq!(fs::read(&d.snapshot).unwrap(), before);
    }

    #[test]
    fn a_file_with_errors_or_without_a_json_form_is_parsed_every_time() {
        let d = project(&[
            ("a.yaml", &lead("a")),
            (
                "bad.yaml",
                &format!("- {}- name: no key\n", lead("b").replace('\n', "\n  ")),
            ),
            ("tagged.yaml", &format!("{}size: !big 3\n", lead("t"))),
            ("keyed.yaml", &format!("{}1: one\n", lead("k"))),
            ("broken.yaml", "dedup_key: [\n"),
        ]);
        assert_eq!(counts(&load(&d, NONE)), (5, 0, true));
        assert_eq!(counts(&load(&d, NONE)), (4, 1, false));
    }

    #[test]
    fn a_snapshot_that_cannot_be_read_or_written_is_a_warning_never_a_failure() {
        let d = project(&[("a.yaml", &lead("a"))]);
        fs::create_dir_all(&d.snapshot).unwrap();
        let s = load(&d, NONE);
        assert_eq!((s.parsed, s.written), (1, false));
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    }
}

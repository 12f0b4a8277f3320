//! All file I/O that others may read while we write goes through here: errors carry the path, and
//! writes are atomic (a temp file in the same folder, then a rename), so a reader never sees half
//! a file.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

pub fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        error: source,
    }
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| io_error(path, e))
}

/// A file leadsite keeps its own state in (journal, acks, snapshot): `None` when it is not there
/// yet. What is not a regular file (a link, FIFO or device: `/dev/zero` never ends) is an error,
/// never waited on or read without end.
pub fn read_state(path: &Path) -> Result<Option<Vec<u8>>> {
    read_state_capped(path, u64::MAX)
}

/// [`read_state`] of a file of at most `cap` bytes (a larger one is an error, read no further).
pub fn read_state_capped(path: &Path, cap: u64) -> Result<Option<Vec<u8>>> {
    if !is_state_file(path)? {
        return Ok(None);
    }
    crate::limits::read_bytes(path, cap)
        .map(Some)
        .map_err(|e| io_error(path, e))
}

/// A state file opened to be read as a stream (a big one, a line at a time): `None` when it is
/// not there; what is not a regular file is an error, as in [`read_state`].
pub fn open_state(path: &Path) -> Result<Option<fs::File>> {
    if !is_state_file(path)? {
        return Ok(None);
    }
    fs::File::open(path)
        .map(Some)
        .map_err(|e| io_error(path, e))
}

/// Whether `path` is a regular file (not followed through a link); `false` when it is not there.
fn is_state_file(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path, e)),
        Ok(m) if !m.file_type().is_file() => Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a folder, link, FIFO or device): not read",
            ),
        )),
        Ok(_) => Ok(true),
    }
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error(path, e))
}

/// A file that may be missing (`None`), following links; what is not a regular file is an
/// error, never waited on.
pub fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match crate::limits::ensure_regular(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
        Ok(_) => match fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            other => other.map(Some).map_err(|e| io_error(path, e)),
        },
    }
}

/// A file leadsite keeps only to save work (a cache, the last build's manifest): its bytes, or
/// `None` when it is missing or cannot be read, and the caller rebuilds what it held. Never waits
/// on what is not a regular file. Not for anything whose loss changes what is sent or published:
/// that is [`read_state`].
pub fn read_cache(path: &Path) -> Option<Vec<u8>> {
    read_state(path).ok().flatten()
}

/// Whether `path` itself is a symbolic link (not followed). A path that cannot be examined is
/// not one.
pub fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// What is at `path`, following links.
pub fn metadata(path: &Path) -> Result<fs::Metadata> {
    fs::metadata(path).map_err(|e| io_error(path, e))
}

/// What is at `path` itself (a link is not followed).
pub fn symlink_metadata(path: &Path) -> Result<fs::Metadata> {
    fs::symlink_metadata(path).map_err(|e| io_error(path, e))
}

/// The paths in folder `dir`, sorted; a missing folder has none. An entry that cannot be read is
/// an error, never passed over.
pub fn list_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut paths = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| io_error(dir, e))?;
    paths.sort();
    Ok(paths)
}

/// A folder walk's error as an I/O error naming the path it met (a folder that cannot be
/// listed is an error, never passed over as empty).
pub fn walk_error(e: walkdir::Error) -> Error {
    let path = e.path().map(Path::to_path_buf).unwrap_or_default();
    let error = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("a symbolic link loop"));
    Error::Io { path, error }
}

/// Opens `path` with `options`; the error names the path.
pub fn open(path: &Path, options: &fs::OpenOptions) -> Result<fs::File> {
    options.open(path).map_err(|e| io_error(path, e))
}

/// Opens a regular file to read (never a FIFO or device, which would wait or never end).
pub fn open_regular(path: &Path) -> Result<fs::File> {
    crate::limits::open_regular(path).map_err(|e| io_error(path, e))
}

/// Removes file `path`: `Ok(false)` when it was not there.
pub fn remove_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Removes folder `path` when it is empty: `Ok(false)` when it was not there or not empty.
pub fn remove_empty_dir(path: &Path) -> Result<bool> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(io_error(path, e)),
    }
}

/// Makes a rename in `dir` durable (best effort where folders cannot be opened).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Moves `from` to `to` (same file system); the error names `from`.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| io_error(from, e))
}

pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| io_error(path, e))
}

/// Writes `bytes` to `path` atomically: to a temp file in the same folder (created when missing),
/// then renamed over `path`. With `durable`, the data is fsync'd before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    write_atomic_via(path, bytes, durable, None)
}

/// [`write_atomic`] with the temp file in `staging` (on the same file system) instead of beside
/// `path`: a folder that is published as it is (`site/`) never holds a half-written file, even
/// after a kill. Falls back to a temp file beside `path` when `staging` is on another device.
pub fn write_atomic_via(
    path: &Path,
    bytes: &[u8],
    durable: bool,
    staging: Option<&Path>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Some(staging) = staging {
        create_dir_all(staging)?;
        let tmp = staging.join(
            temp_path(path)
                .file_name()
                .expect("a temp path has a file name"),
        );
        let mut file = create_new(&tmp).map_err(|e| io_error(&tmp, e))?;
        let written =
            file.write_all(bytes)
                .and_then(|()| if durable { file.sync_all() } else { Ok(()) });
        drop(file);
        let renamed = written.and_then(|()| match fs::rename(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                fs::rename(&tmp, path)
            }
            other => other,
        });
        match renamed {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                let _ = fs::remove_file(&tmp);
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(io_error(path, e));
            }
        }
    }
    let tmp = temp_path(path);
    let mut file = create_new_in(dir, &tmp)?.map_err(|e| io_error(&tmp, e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) });
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(path, e));
    }
    Ok(())
}

/// Like [`write_atomic`], with the bytes written by `fill` through a buffer, so that a large file
/// is never whole in memory. On an error from `fill` the temp file is removed and `path` is as
/// it was.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut std::io::BufWriter<fs::File>) -> Result<()>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    create_dir_all(dir)?;
    let tmp = temp_path(path);
    let file = create_new(&tmp).map_err(|e| io_error(&tmp, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let result = fill(&mut out).and_then(|()| {
        out.flush().map_err(|e| io_error(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io_error(path, e))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic_with`] only when the bytes `fill` writes differ from the file's: they are first
/// compared with the file as they are made (stopping at the first difference), and written only
/// then, by running `fill` again. An artefact of a hundred megabytes that did not change is read,
/// not rewritten, and keeps its modification time. Returns whether it was written.
pub fn write_atomic_with_if_changed<F>(path: &Path, fill: F) -> Result<bool>
where
    F: Fn(&mut dyn std::io::Write) -> Result<()>,
{
    if let Ok(Some(old)) = open_state(path) {
        let mut same = Same {
            old: std::io::BufReader::with_capacity(1 << 16, old),
            differs: false,
            buf: Vec::new(),
        };
        let filled = fill(&mut same);
        if filled.is_ok() && !same.differs && same.at_end() {
            return Ok(false);
        }
        if filled.is_err() && !same.differs {
            return filled.map(|()| false);
        }
    }
    write_atomic_with(path, |out| fill(out))?;
    Ok(true)
}

/// A writer that compares what it is given with a file's bytes; the first difference stops it
/// (an error, with `differs` set).
struct Same<R> {
    old: R,
    differs: bool,
    buf: Vec<u8>,
}

impl<R: std::io::Read> Same<R> {
    /// Whether the file has nothing past what was compared.
    fn at_end(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.old.read(&mut byte), Ok(0))
    }
}

impl<R: std::io::Read> std::io::Write for Same<R> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.resize(bytes.len(), 0);
        let equal = self.old.read_exact(&mut self.buf).is_ok() && self.buf == bytes;
        if !equal {
            self.differs = true;
            return Err(std::io::Error::other("differs"));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes a line (or any bytes) per item to `out`, in order, the lines made in parallel a window
/// at a time: all cores serialize, and never more than a window of lines is in memory. `make`
/// appends an item's bytes to a buffer; its error stops the writing. A write error names `path`.
pub fn write_in_parallel<T, F>(
    out: &mut dyn std::io::Write,
    path: &Path,
    items: &[T],
    make: F,
) -> Result<()>
where
    T: Sync,
    F: Fn(&T, &mut Vec<u8>) -> Result<()> + Sync,
{
    use rayon::prelude::*;
    const WINDOW: usize = 4096;
    const CHUNK: usize = 128;
    for window in items.chunks(WINDOW) {
        let parts: Vec<Result<Vec<u8>>> = window
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut buf = Vec::new();
                for item in chunk {
                    make(item, &mut buf)?;
                }
                Ok(buf)
            })
            .collect();
        for part in parts {
            out.write_all(&part?).map_err(|e| io_error(path, e))?;
        }
    }
    Ok(())
}

/// [`create_new`] of `path` in `dir`, which is made when missing (an error making it is the
/// outer one; the file's own error is left to the caller).
fn create_new_in(dir: &Path, path: &Path) -> Result<std::io::Result<fs::File>> {
    Ok(match create_new(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_dir_all(dir)?;
            create_new(path)
        }
        other => other,
    })
}

fn create_new(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The project's write lock (`<work>/project.lock`), held by a command that changes `leads/`,
/// `site/` or `.leadsite/build/` for as long as it lives: two such commands never run at once
/// and undo each other's work; the second exits at once, saying so.
pub struct ProjectLock {
    _file: fs::File,
    _leads: Option<fs::File>,
}

impl ProjectLock {
    /// Takes the work folder's lock, and a lock on the leads folder itself: two configs with
    /// their own work folders may share one `leads/`.
    pub fn take(work_dir: &Path, leads_dir: &Path, command: &str) -> Result<ProjectLock> {
        let path = work_dir.join("project.lock");
        let held = |what: &Path| {
            crate::error::Error::Locked(format!(
                "another leadsite command is changing this project ({} is held); `{command}` \
                 did nothing: run it again when that one has finished",
                what.display()
            ))
        };
        let Some(file) = try_lock(&path)? else {
            return Err(held(&path));
        };
        // A folder can be locked where it can be opened (Linux, macOS); a folder not made yet
        // holds no leads to protect.
        let leads = fs::File::open(leads_dir).ok();
        if let Some(f) = &leads {
            if let Err(fs::TryLockError::WouldBlock) = f.try_lock() {
                return Err(held(leads_dir));
            }
        }
        Ok(ProjectLock {
            _file: file,
            _leads: leads,
        })
    }
}

/// Opens (creating it and its folder) and locks `path` for this process; `None` when another
/// process holds it. The lock lasts as long as the file is open.
pub fn try_lock(path: &Path) -> Result<Option<fs::File>> {
    if let Some(dir) = path.parent() {
        create_dir_all(dir)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(io_error(path, e)),
    }
}

/// What lock file `path` says when another process holds it (`None` when nobody does, or it
/// cannot be told): the holder writes who it is there.
pub fn lock_holder(path: &Path) -> Option<String> {
    let lock = fs::OpenOptions::new().write(true).open(path).ok()?;
    match lock.try_lock() {
        Err(fs::TryLockError::WouldBlock) => fs::read_to_string(path).ok(),
        _ => None,
    }
}

/// Removes the temp files that killed runs left below `dir` (`.NAME.PID.N.tmp`, made by
/// [`write_atomic`]): those of processes that are gone, or, where that cannot be known, older than
/// an hour. A live process's temp file is kept: it is about to become a file. Returns how many
/// were removed. Symlinks are not followed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if is_stale_temp(&entry) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether a walked entry is a temp file a killed run left (see [`remove_stale_temps`]).
pub fn is_stale_temp(entry: &walkdir::DirEntry) -> bool {
    if !entry.file_type().is_file() {
        return false;
    }
    let name = entry.file_name().to_string_lossy();
    let Some(pid) = temp_owner(&name) else {
        return false;
    };
    if Path::new("/proc/self").exists() {
        pid != std::process::id().to_string() && !Path::new("/proc").join(pid).exists()
    } else {
        entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600))
    }
}

/// The process id in a temp file's name `.NAME.PID.N.tmp`, when it is one.
fn temp_owner(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = rest.rsplitn(3, '.');
    let n = parts.next()?;
    let pid = parts.next()?;
    let file = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(n) && digits(pid) && !file.is_empty()).then_some(pid)
}

/// A temp name beside `path`, unique within this machine's running processes: `.NAME.PID.N.tmp`.
/// Hidden, so lead loaders and watchers pass over it.
fn temp_path(path: &Path) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// What [`write_if_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Updated,
    Unchanged,
}

/// Writes only when the bytes differ from what is on disk, so unchanged files keep their mtime.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<WriteOutcome> {
    write_if_changed_via(path, bytes, None)
}

/// [`write_if_changed`] with the temp file in `staging` (see [`write_atomic_via`]).
pub fn write_if_changed_via(
    path: &Path,
    bytes: &[u8],
    staging: Option<&Path>,
) -> Result<WriteOutcome> {
    let outcome = match fs::read(path) {
        Ok(old) if old == bytes => return Ok(WriteOutcome::Unchanged),
        Ok(_) => WriteOutcome::Updated,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WriteOutcome::Created,
        Err(e) => return Err(io_error(path, e)),
    };
    if outcome == WriteOutcome::Created && write_new(path, bytes)? {
        return Ok(outcome);
    }
    write_atomic_via(path, bytes, false, staging)?;
    Ok(outcome)
}

/// Writes a file that is not there yet where it belongs, its folder made when missing: no reader
/// can have had a whole older version of it, so no temp file and rename are needed (a cold build
/// of 10,000 pages spent a third of its kernel time on them). A crash half-way leaves a file the
/// next write finds different and replaces atomically. `false` when the file has appeared
/// meanwhile (then it is replaced as any other).
fn write_new(path: &Path, bytes: &[u8]) -> Result<bool> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut file = match create_new_in(dir, path)? {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_error(path, e)),
    };
    if let Err(e) = file.write_all(bytes) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(io_error(path, e));
    }
    Ok(true)
}

/// Appends `line` and a newline to `path` (created when missing) and fsyncs it: a record is
/// durable when this returns. A line a crash cut short is ended first, so the new record is
/// always a line of its own.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    let torn = (|| -> std::io::Result<bool> {
        let len = f.metadata()?.len();
        if len == 0 {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(len - 1))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        Ok(last[0] != b'\n')
    })()
    .map_err(|e| io_error(path, e))?;
    let text = format!("{}{line}\n", if torn { "\n" } else { "" });
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| io_error(path, e))
}

/// A short, stable digest of `bytes` (64-bit FNV-1a, 16 hex digits): for fingerprinted asset
/// names and for telling whether a page's inputs changed. Not for security.
/// `name` when it has at most `max` bytes; else its first part and a digest of the whole (so
/// that two long names stay apart), within `max` bytes.
pub fn short_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let digest = fingerprint(name.as_bytes());
    let keep = max.saturating_sub(digest.len() + 1);
    format!("{}-{digest}", crate::text::cut(name, keep))
}

/// The running binary's size and modification time: a rebuilt leadsite may read and render
/// differently, so what it made before is made again (pages, the leads' snapshot).
pub fn binary_id() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| metadata(&exe).ok())
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default()
}

pub fn fingerprint(bytes: &[u8]) -> String {
    let mut f = Fingerprint::default();
    f.add(bytes);
    f.hex()
}

/// [`fingerprint`] of bytes given in parts, or written to it (`serde_json::to_writer`): the
/// same digest as of the parts joined, without joining them.
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    pub fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    pub fn value(&self) -> u64 {
        self.0
    }
}

impl std::io::Write for Fingerprint {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.add(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether a file event is a change (created, written, removed, renamed), not a read or a
/// metadata touch: a watcher that reacts to reads wakes itself up with its own work.
pub fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{EventKind, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(k) => !matches!(k, ModifyKind::Metadata(_)),
        _ => false,
    }
}

/// The process's resident memory in MiB (Linux: /proc/self/status), for `-v` reports.
pub fn resident_mib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_file_is_compared_as_it_is_made_and_written_only_when_it_differs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let lines = |n: usize, odd: Option<usize>| -> Vec<String> {
            (0..n)
                .map(|i| match odd {
                    Some(j) if i == j => format!("{{\"changed\":{i}}}\n"),
                    _ => format!("{{\"line\":{i}}}\n"),
                })
                .collect()
        };
        let write = |items: &[String]| {
            write_atomic_with_if_changed(&path, |out| {
                write_in_parallel(out, &path, items, |l, buf| {
                    buf.extend_from_slice(l.as_bytes());
                    Ok(())
                })
            })
            .unwrap()
        };
        let all = lines(10_000, None);
        assert!(write(&all), "a new file is written");
        let stamp = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!write(&all), "the same bytes: not written");
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), stamp);
        for items in [
            lines(10_000, Some(5_000)),
            lines(9_999, None),
            lines(10_001, None),
            lines(0, None),
        ] {
            assert!(write(&items));
            assert_eq!(fs::read_to_string(&path).unwrap(), items.concat());
        }
        // An error that is not a difference is the caller's, and the file stays as it was.
        let err = write_atomic_with_if_changed(&path, |_| {
            Err(io_error(&path, std::io::Error::other("no")))
        });
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn a_new_file_is_written_in_place_and_a_changed_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(".staging");
        let page = dir.path().join("site/acme/index.html");
        let write = |b: &[u8]| write_if_changed_via(&page, b, Some(&staging)).unwrap();
        assert_eq!(write(b"one"), WriteOutcome::Created);
        assert_eq!(fs::read(&page).unwrap(), b"one");
        // No temp file left beside it, and none made in the staging folder.
        assert_eq!(fs::read_dir(page.parent().unwrap()).unwrap().count(), 1);
        assert!(!staging.exists());
        assert_eq!(write(b"one"), WriteOutcome::Unchanged);
        assert_eq!(write(b"two"), WriteOutcome::Updated);
        assert_eq!(fs::read(&page).unwrap(), b"two");
        assert_eq!(fs::read_dir(page.parent().unwrap()).unwrap().count(), 1);
        // A link where a new file would go is not written through.
        #[cfg(unix)]
        {
            let target = dir.path().join("elsewhere");
            let link = dir.path().join("site/link.html");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            assert!(write_new(&link, b"x").is_err() || !target.exists());
            assert!(!target.exists());
        }
    }

    #[test]
    fn temp_files_of_dead_runs_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("acme");
        fs::create_dir_all(&sub).unwrap();
        // No process has this id (above the kernel's pid_max).
        let dead = sub.join(".index.html.4194399.0.tmp");
        let live = sub.join(format!(".index.html.{}.3.tmp", std::process::id()));
        let page = sub.join("index.html");
        let dotfile = sub.join(".well-known.tmp");
        for f in [&dead, &live, &page, &dotfile] {
            fs::write(f, b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert!(!dead.exists() && live.exists() && page.exists() && dotfile.exists());
        assert_eq!(temp_owner(".a.b.12.0.tmp"), Some("12"));
        assert_eq!(temp_owner(".x.tmp"), None);
    }

    #[test]
    fn missing_is_none_and_any_other_failure_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        assert!(read_if_exists(&gone).unwrap().is_none());
        assert!(list_dir(&gone).unwrap().is_empty());
        assert!(!remove_file(&gone).unwrap());
        assert!(read_cache(&gone).is_none());
        // A folder is no file: an error with its path, not "missing".
        let err = read_if_exists(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        for name in ["b", "a", "c"] {
            fs::write(dir.path().join(name), name).unwrap();
        }
        let names: Vec<_> = list_dir(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("x"), "x").unwrap();
        assert!(!remove_empty_dir(&sub).unwrap(), "not empty: kept");
        assert!(remove_file(&sub.join("x")).unwrap());
        assert!(remove_empty_dir(&sub).unwrap());
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
        assert!(is_symlink(&dir.path().join("link")) && !is_symlink(&dir.path().join("a")));
    }

    #[test]
    fn write_if_changed_reports_what_it_did() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        assert_eq!(write_if_changed(&p, b"one").unwrap(), WriteOutcome::Created);
        assert_eq!(
            write_if_changed(&p, b"one").unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(write_if_changed(&p, b"two").unwrap(), WriteOutcome::Updated);
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn io_errors_name_the_path() {
        let err = read_to_string(Path::new("/nonexistent/x.yaml")).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/x.yaml: "),
            "{err}"
        );
    }
}

//! Segment files: naming, creation with owner-only permissions, and repair of a torn last line.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".seg";

/// One segment file as tracked in memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub seq: u64,
    /// Bytes of complete lines in the file.
    pub len: u64,
    /// Lines in the file (all of them, sent or not).
    pub records: u64,
}

pub(super) fn path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SUFFIX}"))
}

pub(super) fn parse_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Creates a new, empty segment opened for appending (0600).
pub(super) fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Opens an existing segment for appending and makes it owner-only.
pub(super) fn open_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().append(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Creates or truncates a small file (0600), for the cursor.
pub(super) fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Cuts a line torn by a crash mid-write off the end of a segment. Returns the length of the
/// complete lines and whether anything was cut.
pub(super) fn repair_tail(path: &Path) -> io::Result<(u64, bool)> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((0, false));
    }
    // Walk back in chunks to the last newline.
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(buf.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(buf.len());
        file.seek(SeekFrom::Start(start))?;
        let chunk = &mut buf[..n];
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep == len {
                return Ok((len, false));
            }
            file.set_len(keep)?;
            file.sync_all()?;
            return Ok((keep, true));
        }
        if start == 0 {
            file.set_len(0)?;
            file.sync_all()?;
            return Ok((0, true));
        }
        end = start;
    }
}

/// Counts the lines in `path` between `from` and `to`.
pub(super) fn count_lines(path: &Path, from: u64, to: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut left = to.saturating_sub(from);
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = 0u64;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        left -= n as u64;
    }
    Ok(lines)
}

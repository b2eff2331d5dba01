//! The cursor file: the position up to which the sink acknowledged, written atomically (temporary
//! file, fsync, rename, fsync of the directory) so a crash leaves either the old or the new one.

use super::Position;
use super::segment::{create_truncated, sync_dir};
use std::io::{self, Write};
use std::path::Path;

pub(super) const FILE: &str = "cursor";
pub(super) const TMP: &str = "cursor.tmp";
const MAGIC: &str = "rampart-spool-cursor/v1";

/// Reads the cursor; `Ok(None)` when there is none or it is unreadable (then everything still on
/// disk is sent again, which at-least-once allows).
pub(super) fn read(dir: &Path) -> io::Result<Option<Position>> {
    let text = match std::fs::read_to_string(dir.join(FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut parts = text.split_whitespace();
    let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(MAGIC), Some(seg), Some(off), None) => seg
            .parse()
            .ok()
            .zip(off.parse().ok())
            .map(|(segment, offset)| Position { segment, offset }),
        _ => None,
    };
    if parsed.is_none() {
        tracing::warn!(dir = %dir.display(), "event spool cursor is unreadable; resending from the oldest segment");
    }
    Ok(parsed)
}

pub(super) fn write(dir: &Path, pos: Position) -> io::Result<()> {
    let tmp = dir.join(TMP);
    let mut file = create_truncated(&tmp)?;
    writeln!(file, "{MAGIC} {} {}", pos.segment, pos.offset)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

//! The journal of the in-process bus: what it must not forget, as JSON
//! lines in one append-only file (`bus.journal` in the data folder).
//!
//! Every change the bus confirms is written (one `write` per call) before
//! the call returns, so what a caller was told is kept survives the process
//! being killed: the kernel holds the bytes even if the process dies the
//! next instant. (A power cut is another matter: the file is not synced on
//! every write.) On start the bus replays the file. When it has grown by
//! [`COMPACT_AFTER`] bytes it is rewritten from the current state: the state
//! is copied under the bus's lock, written to a temporary file outside it
//! (writes meanwhile go on to the old file), then the lines written since
//! the copy are copied over from the old file and the new file is renamed
//! over the old one.
//!
//! Group progress is kept as acknowledgements only: after a restart, entries
//! that were handed out but not acknowledged are handed out again, which
//! the consumers are built for (the store skips stored ticks, the windows
//! skip ticks they hold).

use crate::bus::{BusError, Failure};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use tickpulse_core::{Price, StreamId, StreamTick, View};

/// Bytes written since the last rewrite that trigger the next one, at
/// least; when the rewritten file was larger, as much as its size (so the
/// cost of rewriting stays proportional to what was written).
pub const COMPACT_AFTER: u64 = 64 * 1024 * 1024;

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Record {
    /// A tick appended to the stream.
    #[serde(rename = "tick")]
    Tick { tick: StreamTick },
    #[serde(rename = "group")]
    Group { group: String },
    #[serde(rename = "ack")]
    Ack { group: String, ids: Vec<StreamId> },
    #[serde(rename = "views")]
    Views { views: Vec<View> },
    /// An entry moved to the dead letters by `group` (and acknowledged).
    #[serde(rename = "dead")]
    Dead {
        group: String,
        id: StreamId,
        reason: String,
        tick: Option<StreamTick>,
    },
    /// Written by a rewrite: the latest tick of a symbol (it may be older
    /// than every tick still in the stream) and its first price.
    #[serde(rename = "latest")]
    Latest { tick: StreamTick, first: Price },
    /// Written by a rewrite: an event id remembered until `until_ms`
    /// (epoch milliseconds) whose tick left the stream.
    #[serde(rename = "seen")]
    Seen { event_id: String, until_ms: i64 },
}

pub struct Journal {
    path: PathBuf,
    file: File,
    written: u64,
    /// The size of the file after the last rewrite (or when opened).
    base: u64,
    /// The file's size: every line in it up to here is whole.
    len: u64,
    /// While a rewrite is under way: the file's size when its snapshot was
    /// taken (the lines after it go into the new file too).
    rewrite_from: Option<u64>,
    /// Set when a failed write left part of a line that could not be cut
    /// off: every later write fails, so no line follows it, until a restart
    /// drops it.
    torn: Option<String>,
    /// Makes the next write stop half-way and fail, as a full disk does.
    #[cfg(test)]
    pub(super) short_write: bool,
    /// Held (locked) while the journal is open: one process per journal.
    _lock: File,
}

fn failed(what: &str, path: &Path, e: impl std::fmt::Display) -> BusError {
    failed_as(Failure::Unavailable, what, path, e)
}

fn failed_as(kind: Failure, what: &str, path: &Path, e: impl std::fmt::Display) -> BusError {
    BusError::new(
        "memory",
        kind,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

impl Journal {
    /// Opens (creating the folder and file when missing) and reads back
    /// every record. A last line cut short by a crash is dropped; any other
    /// unreadable line is an error (the file is not what the bus wrote).
    ///
    /// # Errors
    /// When the file cannot be read or written, or holds a corrupt line.
    pub fn open(path: &Path) -> Result<(Self, Vec<Record>), BusError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, e))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| failed("open", &lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(failed_as(
                Failure::Refused,
                "use",
                path,
                "another tickpulse process has it open; give each process its own DATA_DIR, or set REDIS_URL so they share Redis",
            ));
        }
        let mut records = Vec::new();
        let mut good_len = 0u64;
        if let Ok(file) = File::open(path) {
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .map_err(|e| failed("read", path, e))?;
                if n == 0 {
                    break;
                }
                if !line.ends_with('\n') {
                    tracing::warn!(bytes = n, "journal ends in a cut-off line; dropping it");
                    break;
                }
                let record: Record = serde_json::from_str(&line).map_err(|e| {
                    failed_as(
                        Failure::Corrupt,
                        "read",
                        path,
                        format!("line at byte {good_len} is corrupt: {e}"),
                    )
                })?;
                records.push(record);
                good_len += n as u64;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| failed("open", path, e))?;
        // Drop a cut-off tail so new lines start on a line of their own.
        file.set_len(good_len)
            .map_err(|e| failed("truncate", path, e))?;
        Ok((
            Self {
                path: path.to_owned(),
                file,
                written: 0,
                base: good_len,
                len: good_len,
                rewrite_from: None,
                torn: None,
                #[cfg(test)]
                short_write: false,
                _lock: lock,
            },
            records,
        ))
    }

    /// Appends [`Record::Tick`] lines for ticks already encoded as JSON
    /// (`StreamTick`s), with one write.
    ///
    /// # Errors
    /// When the write fails: the caller must not confirm.
    pub fn write_ticks(&mut self, ticks: &[String]) -> Result<(), BusError> {
        if ticks.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(ticks.iter().map(|t| t.len() + 24).sum());
        for t in ticks {
            buf.extend_from_slice(b"{\"k\":\"tick\",\"tick\":");
            buf.extend_from_slice(t.as_bytes());
            buf.extend_from_slice(b"}\n");
        }
        self.append(&buf)
    }

    /// Appends records with one write.
    ///
    /// # Errors
    /// When the write fails (disk full, …): the caller must not confirm.
    pub fn write(&mut self, records: &[Record]) -> Result<(), BusError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 256);
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| failed("encode for", &self.path, e))?;
            buf.push(b'\n');
        }
        self.append(&buf)
    }

    fn append(&mut self, buf: &[u8]) -> Result<(), BusError> {
        if let Some(why) = &self.torn {
            return Err(failed("write", &self.path, why));
        }
        if let Err(e) = self.write_out(buf) {
            // A short write (a full disk, …) leaves part of a line at the
            // end. Cut it off, so the file stays whole lines for the next
            // write, the replay and a rewrite's copy by offset.
            if let Err(cut) = self.file.set_len(self.len) {
                self.torn = Some(format!(
                    "a failed write left part of a line that could not be cut off ({cut}); \
                     restart tickpulse to drop it"
                ));
            }
            return Err(failed("write", &self.path, e));
        }
        self.written += buf.len() as u64;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn write_out(&mut self, buf: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if std::mem::take(&mut self.short_write) {
            self.file.write_all(&buf[..buf.len() / 2])?;
            return Err(std::io::Error::other("no space left on device"));
        }
        self.file.write_all(buf)
    }

    /// Whether enough was written since the last rewrite to rewrite again
    /// (and none is under way).
    pub fn wants_rewrite(&self) -> bool {
        self.written >= COMPACT_AFTER.max(self.base) && self.rewrite_from.is_none()
    }

    /// Starts a rewrite from a snapshot taken now: the lines written from
    /// here on are copied after it. Returns where the snapshot goes, for
    /// [`write_snapshot`]; then [`copy_lines`] and
    /// [`Journal::finish_rewrite_after`] (see `MemoryBus::compact`), or
    /// [`Journal::abort_rewrite`].
    pub fn begin_rewrite(&mut self) -> Option<PathBuf> {
        if self.rewrite_from.is_some() {
            return None;
        }
        self.rewrite_from = Some(self.len);
        Some(self.path.with_extension("journal.tmp"))
    }

    /// Where the lines written since the rewrite began are in the file:
    /// from the snapshot's end to the file's end (all whole lines), for
    /// [`copy_lines`] while appends go on.
    pub fn written_since_snapshot(&self) -> Option<(PathBuf, u64, u64)> {
        self.rewrite_from
            .map(|from| (self.path.clone(), from, self.len))
    }

    /// The last step of a rewrite whose `tmp` already holds the snapshot and
    /// the lines written since, up to byte `copied` of the old file: copies
    /// the rest (a short read and write) and puts `tmp` in the journal's
    /// place (a rename). No fsync: the lines added here are as safe as any
    /// appended line.
    ///
    /// # Errors
    /// When a step fails; the old journal then stays in use.
    pub fn finish_rewrite_after(&mut self, tmp: &Path, copied: u64) -> Result<(), BusError> {
        let from = self.rewrite_from.take().unwrap_or(self.len);
        let finish = || -> Result<(File, u64), BusError> {
            copy_lines(&self.path, copied, self.len, tmp, false)?;
            let file = OpenOptions::new()
                .append(true)
                .open(tmp)
                .map_err(|e| failed("open", tmp, e))?;
            // Its size is where the next rewrite starts copying: known
            // before it replaces the old file, or no rewrite.
            let len = file.metadata().map_err(|e| failed("read", tmp, e))?.len();
            std::fs::rename(tmp, &self.path).map_err(|e| failed("replace", &self.path, e))?;
            Ok((file, len))
        };
        match finish() {
            Ok((file, len)) => {
                let kept = self.len - from;
                self.len = len;
                self.base = self.len.saturating_sub(kept);
                self.file = file;
                self.written = kept;
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                Err(e)
            }
        }
    }

    /// Gives up a rewrite; the old journal stays in use.
    pub fn abort_rewrite(&mut self, tmp: &Path) {
        self.rewrite_from = None;
        let _ = std::fs::remove_file(tmp);
    }
}

/// Appends bytes `from..to` of the journal at `source` to `tmp`, and syncs
/// `tmp` when asked (blocking; run it off the async threads).
///
/// # Errors
/// When a file cannot be read or written, or `source` is shorter than `to`.
pub fn copy_lines(
    source: &Path,
    from: u64,
    to: u64,
    tmp: &Path,
    sync: bool,
) -> Result<(), BusError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut old = File::open(source).map_err(|e| failed("open", source, e))?;
    old.seek(SeekFrom::Start(from))
        .map_err(|e| failed("read", source, e))?;
    let mut file = OpenOptions::new()
        .append(true)
        .open(tmp)
        .map_err(|e| failed("open", tmp, e))?;
    let want = to.saturating_sub(from);
    let copied =
        std::io::copy(&mut old.take(want), &mut file).map_err(|e| failed("copy to", tmp, e))?;
    if copied != want {
        return Err(failed(
            "read",
            source,
            format!("{copied} of {want} bytes were there"),
        ));
    }
    if sync {
        file.sync_all().map_err(|e| failed("sync", tmp, e))?;
    }
    Ok(())
}

/// Writes a snapshot to `tmp` and syncs it (blocking; run it off the
/// async threads).
///
/// # Errors
/// When the file cannot be written.
pub fn write_snapshot(
    tmp: &Path,
    records: impl IntoIterator<Item = Record>,
) -> Result<(), BusError> {
    let mut file = File::create(tmp).map_err(|e| failed("create", tmp, e))?;
    let mut buf = Vec::with_capacity(1 << 20);
    for r in records {
        serde_json::to_writer(&mut buf, &r).map_err(|e| failed("encode for", tmp, e))?;
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            file.write_all(&buf).map_err(|e| failed("write", tmp, e))?;
            buf.clear();
        }
    }
    file.write_all(&buf).map_err(|e| failed("write", tmp, e))?;
    file.sync_all().map_err(|e| failed("sync", tmp, e))
}

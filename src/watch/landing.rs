//! Deciding when a data file has landed. Watch events only say that
//! something happened; a file copied in chunks fires many of them and is
//! half-written in between. A file counts once it has been renamed into
//! place, or once its size and mtime have stayed the same for the debounce
//! window; a deletion counts at once. A file whose size and mtime are what
//! they were at its last landing has not changed and does not count again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::engine::sources::is_temporary;

/// What a watch event said about a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Created or written: wait until it stops changing.
    Written,
    /// Renamed into place: complete now.
    RenamedIn,
    /// Deleted or renamed away.
    Removed,
}

/// A file's size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: SystemTime,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| Stamp {
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

/// A file seen written, not yet stable.
struct Settling {
    last: Stamp,
    since: Instant,
}

/// The files being watched settle.
pub struct Landing {
    debounce: Duration,
    /// Files written and still changing.
    settling: HashMap<PathBuf, Settling>,
    /// Each data file's stamp at its last landing (or at start-up).
    known: HashMap<PathBuf, Option<Stamp>>,
    /// Landed since the last `settled` call.
    landed: Vec<PathBuf>,
}

impl Landing {
    /// Starts with the files under `folders` as they are now.
    pub fn new(debounce: Duration, folders: &[PathBuf]) -> Self {
        let mut landing = Self {
            debounce,
            settling: HashMap::new(),
            known: HashMap::new(),
            landed: Vec::new(),
        };
        for folder in folders {
            for file in files_under(folder) {
                let s = stamp(&file);
                landing.known.insert(file, s);
            }
        }
        landing
    }

    /// Records what an event said about `path`.
    pub fn seen(&mut self, path: &Path, what: Seen, now: Instant) {
        if is_temporary(path) {
            return;
        }
        match what {
            Seen::Written => match stamp(path) {
                Some(last) => {
                    let since = match self.settling.get(path) {
                        Some(s) if s.last == last => s.since,
                        _ => now,
                    };
                    self.settling.insert(path.to_path_buf(), Settling { last, since });
                }
                // Gone again before it settled, or a folder.
                None => self.seen(path, Seen::Removed, now),
            },
            Seen::RenamedIn => {
                self.settling.remove(path);
                self.land(path, stamp(path));
            }
            Seen::Removed => {
                self.settling.remove(path);
                if stamp(path).is_none() {
                    self.land(path, None);
                }
            }
        }
    }

    /// Compares the files under `folder` with what is known, as if an event
    /// had been seen for each difference (after a lost event or a new folder).
    pub fn rescan(&mut self, folder: &Path, now: Instant) {
        let present = files_under(folder);
        let gone: Vec<PathBuf> = self
            .known
            .iter()
            .filter(|(path, s)| s.is_some() && path.starts_with(folder) && !present.contains(path))
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            self.seen(&path, Seen::Removed, now);
        }
        for path in present {
            if self.known.get(&path).copied().flatten() != stamp(&path) {
                self.seen(&path, Seen::Written, now);
            }
        }
    }

    /// Checks the settling files again and returns every file that landed
    /// since the last call.
    pub fn settled(&mut self, now: Instant) -> Vec<PathBuf> {
        let paths: Vec<PathBuf> = self.settling.keys().cloned().collect();
        for path in paths {
            match stamp(&path) {
                None => self.seen(&path, Seen::Removed, now),
                Some(current) => {
                    let entry = self.settling.get_mut(&path).expect("listed above");
                    if current != entry.last {
                        *entry = Settling {
                            last: current,
                            since: now,
                        };
                    } else if now.duration_since(entry.since) >= self.debounce {
                        self.settling.remove(&path);
                        self.land(&path, Some(current));
                    }
                }
            }
        }
        std::mem::take(&mut self.landed)
    }

    /// Whether some file is still being written.
    pub fn unsettled(&self) -> bool {
        !self.settling.is_empty()
    }

    /// Counts a landing unless the file is exactly as it last landed.
    fn land(&mut self, path: &Path, now: Option<Stamp>) {
        let before = self.known.insert(path.to_path_buf(), now);
        if before != Some(now) {
            self.landed.push(path.to_path_buf());
        }
    }
}

/// Every non-temporary file under `folder`, recursively.
fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if is_temporary(&path) {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => found.push(path),
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(500);

    fn setup() -> (tempfile::TempDir, Landing, Instant) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.csv"), "a\n1\n").unwrap();
        let landing = Landing::new(DEBOUNCE, &[dir.path().to_path_buf()]);
        (dir, landing, Instant::now())
    }

    #[test]
    fn a_written_file_lands_once_it_stops_changing() {
        let (dir, mut landing, t0) = setup();
        let file = dir.path().join("new.csv");
        std::fs::write(&file, "a\n").unwrap();
        landing.seen(&file, Seen::Written, t0);
        assert!(landing.settled(t0 + DEBOUNCE / 2).is_empty());
        // More is written: the window starts again from when it was noticed.
        std::fs::write(&file, "a\n1\n2\n").unwrap();
        assert!(landing.settled(t0 + DEBOUNCE).is_empty());
        assert!(landing.unsettled());
        assert!(landing.settled(t0 + DEBOUNCE + DEBOUNCE / 2).is_empty());
        assert_eq!(landing.settled(t0 + DEBOUNCE * 2), vec![file]);
        assert!(!landing.unsettled());
    }

    #[test]
    fn a_rename_lands_at_once_and_a_deletion_too() {
        let (dir, mut landing, t0) = setup();
        let tmp = dir.path().join("new.csv.tmp");
        let file = dir.path().join("new.csv");
        std::fs::write(&tmp, "a\n1\n").unwrap();
        landing.seen(&tmp, Seen::Written, t0);
        std::fs::rename(&tmp, &file).unwrap();
        landing.seen(&file, Seen::RenamedIn, t0);
        assert_eq!(landing.settled(t0), vec![file]);
        let old = dir.path().join("old.csv");
        std::fs::remove_file(&old).unwrap();
        landing.seen(&old, Seen::Removed, t0);
        assert_eq!(landing.settled(t0), vec![old]);
    }

    #[test]
    fn events_for_an_unchanged_file_do_not_count() {
        let (dir, mut landing, t0) = setup();
        let old = dir.path().join("old.csv");
        landing.seen(&old, Seen::Written, t0);
        assert!(landing.settled(t0 + DEBOUNCE).is_empty());
        landing.seen(&old, Seen::RenamedIn, t0);
        assert!(landing.settled(t0 + DEBOUNCE).is_empty());
    }

    #[test]
    fn a_rescan_finds_what_events_missed() {
        let (dir, mut landing, t0) = setup();
        std::fs::create_dir(dir.path().join("2026")).unwrap();
        let nested = dir.path().join("2026/11.csv");
        std::fs::write(&nested, "a\n").unwrap();
        std::fs::write(dir.path().join(".hidden.csv"), "a\n").unwrap();
        std::fs::remove_file(dir.path().join("old.csv")).unwrap();
        landing.rescan(dir.path(), t0);
        let mut landed = landing.settled(t0 + DEBOUNCE);
        landed.sort();
        assert_eq!(landed, vec![nested, dir.path().join("old.csv")]);
    }
}

//! The file watcher: notify (inotify, or polling with `--poll`) behind
//! notify-debouncer-full, which pairs the two halves of a rename. It only
//! classifies what it sees and sends a [`Change`]; the main loop decides
//! what to run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind, RenameMode};
use notify::{PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, DebouncedEvent, Debouncer, FileIdMap, new_debouncer_opt};
use tokio::sync::mpsc::UnboundedSender;

use super::landing::Seen;
use crate::engine::sources::is_temporary;

/// What happened, as far as the watcher can tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Something happened to a data file.
    Data(PathBuf, Seen),
    /// `warroom.toml`, a report file or a template changed.
    Definition(PathBuf),
    /// Events may have been missed under this folder: compare it with what is known.
    Rescan(PathBuf),
    /// The watcher itself failed.
    Trouble(String),
}

/// Which paths mean what.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The project folder.
    pub root: PathBuf,
    /// Folders (or files) whose files are data, watched recursively.
    pub data: Vec<PathBuf>,
    /// Folders whose changes are the watcher's own doing (`.warroom/`, outputs).
    pub ignored: Vec<PathBuf>,
}

impl Layout {
    fn is_definition(&self, path: &Path) -> bool {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if is_temporary(path) {
            return false;
        }
        path == self.root.join("warroom.toml")
            || (path.parent() == Some(self.root.join("reports").as_path()) && name.ends_with(".toml"))
            || path.starts_with(self.root.join("templates"))
    }

    fn is_data(&self, path: &Path) -> bool {
        !is_temporary(path) && self.data.iter().any(|d| path.starts_with(d))
    }

    /// What one debounced event means.
    fn classify(&self, event: &DebouncedEvent) -> Vec<Change> {
        if event.need_rescan() {
            return self.data.iter().cloned().map(Change::Rescan).collect();
        }
        let seen = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Seen::Written,
            // Reads (including the engine's own) change nothing.
            EventKind::Access(_) => return Vec::new(),
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any | EventKind::Other => Seen::Written,
            EventKind::Remove(_) => Seen::Removed,
        };
        let mut changes = Vec::new();
        for (i, path) in event.paths.iter().enumerate() {
            if self.ignored.iter().any(|d| path.starts_with(d)) {
                continue;
            }
            let seen = match event.kind {
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if i == 0 => Seen::Removed,
                EventKind::Modify(ModifyKind::Name(RenameMode::Both | RenameMode::To)) => Seen::RenamedIn,
                EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Seen::Removed,
                _ => seen,
            };
            let folder = matches!(
                event.kind,
                EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder)
            ) || path.is_dir();
            if self.is_definition(path) {
                changes.push(Change::Definition(path.clone()));
            } else if folder && self.data.iter().any(|d| path.starts_with(d)) {
                // A folder appeared, went or moved: files in it may have
                // come and gone before they could be watched.
                let under = if seen == Seen::Removed {
                    path.parent().unwrap_or(path)
                } else {
                    path
                };
                changes.push(Change::Rescan(under.to_path_buf()));
            } else if self.is_data(path) {
                changes.push(Change::Data(path.clone(), seen));
            }
        }
        changes
    }

    /// The paths to watch and how: data folders recursively, and the
    /// definition folders (the project folder itself without recursion,
    /// for `warroom.toml`).
    fn watches(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let mut watches: Vec<(PathBuf, RecursiveMode)> = self
            .data
            .iter()
            .map(|d| (d.clone(), RecursiveMode::Recursive))
            .collect();
        let definitions = [
            (self.root.clone(), RecursiveMode::NonRecursive),
            (self.root.join("reports"), RecursiveMode::NonRecursive),
            (self.root.join("templates"), RecursiveMode::Recursive),
        ];
        for (path, mode) in definitions {
            let covered = self.data.iter().any(|d| path.starts_with(d));
            if path.is_dir() && !covered {
                watches.push((path, mode));
            }
        }
        watches
    }
}

/// A running watcher; dropping it stops it.
pub enum Watcher {
    /// inotify (or the platform's native API).
    Native(Debouncer<RecommendedWatcher, FileIdMap>),
    /// Polling, for file systems without change notification.
    Poll(Debouncer<PollWatcher, FileIdMap>),
}

impl Watcher {
    /// Starts watching `layout`, sending changes to `tx`; with `poll`, by
    /// comparing the folders at that interval.
    pub fn start(layout: Layout, poll: Option<Duration>, tx: UnboundedSender<Change>) -> notify::Result<Self> {
        let watches = layout.watches();
        // Short: only long enough to pair a rename's halves; landing
        // detection does the real waiting.
        let pairing = Duration::from_millis(100);
        let handler = move |result: DebounceEventResult| {
            let changes: Vec<Change> = match result {
                Ok(events) => events.iter().flat_map(|e| layout.classify(e)).collect(),
                Err(errors) => errors.iter().map(|e| Change::Trouble(e.to_string())).collect(),
            };
            for change in changes {
                // The receiver is gone only when the watcher is shutting down.
                let _ = tx.send(change);
            }
        };
        let mut watcher = match poll {
            None => Watcher::Native(new_debouncer_opt(
                pairing,
                None,
                handler,
                FileIdMap::new(),
                notify::Config::default(),
            )?),
            Some(interval) => Watcher::Poll(new_debouncer_opt(
                pairing,
                None,
                handler,
                FileIdMap::new(),
                notify::Config::default().with_poll_interval(interval),
            )?),
        };
        for (path, mode) in &watches {
            match &mut watcher {
                Watcher::Native(d) => d.watch(path, *mode)?,
                Watcher::Poll(d) => d.watch(path, *mode)?,
            }
        }
        Ok(watcher)
    }
}

#[cfg(test)]
mod tests {
    use notify::Event;

    use super::*;

    fn layout(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            data: vec![root.join("data")],
            ignored: vec![root.join(".warroom"), root.join("out")],
        }
    }

    fn event(kind: EventKind, paths: &[&Path]) -> DebouncedEvent {
        let mut event = Event::new(kind);
        for p in paths {
            event = event.add_path(p.to_path_buf());
        }
        DebouncedEvent::new(event, std::time::Instant::now())
    }

    #[test]
    fn events_are_classified_by_where_and_what() {
        let root = Path::new("/p");
        let l = layout(root);
        let orders = root.join("data/orders.csv");
        let rename = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &[&root.join("data/.orders.csv.tmp"), &orders],
        );
        assert_eq!(l.classify(&rename), vec![Change::Data(orders.clone(), Seen::RenamedIn)]);
        let write = event(EventKind::Modify(ModifyKind::Any), &[&orders]);
        assert_eq!(l.classify(&write), vec![Change::Data(orders.clone(), Seen::Written)]);
        let read = event(EventKind::Access(AccessKind::Open(AccessMode::Read)), &[&orders]);
        assert!(l.classify(&read).is_empty());
        let gone = event(EventKind::Remove(RemoveKind::File), &[&orders]);
        assert_eq!(l.classify(&gone), vec![Change::Data(orders.clone(), Seen::Removed)]);
        let ours = event(EventKind::Create(CreateKind::File), &[&root.join("out/r/report.html")]);
        assert!(l.classify(&ours).is_empty());
        let partial = event(EventKind::Create(CreateKind::File), &[&root.join("data/x.csv.part")]);
        assert!(l.classify(&partial).is_empty());
        let report = event(EventKind::Modify(ModifyKind::Any), &[&root.join("reports/r.toml")]);
        assert_eq!(
            l.classify(&report),
            vec![Change::Definition(root.join("reports/r.toml"))]
        );
        let folder = event(EventKind::Create(CreateKind::Folder), &[&root.join("data/2027")]);
        assert_eq!(l.classify(&folder), vec![Change::Rescan(root.join("data/2027"))]);
    }

    #[test]
    fn lost_events_ask_for_a_rescan_of_every_data_folder() {
        let root = Path::new("/p");
        let overflow = DebouncedEvent::new(
            Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan),
            std::time::Instant::now(),
        );
        assert_eq!(
            layout(root).classify(&overflow),
            vec![Change::Rescan(root.join("data"))]
        );
    }
}

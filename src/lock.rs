//! Locks under `.warroom/`, so that a `run` and a `watch` on one project
//! never interleave their writes to outputs, alert states, the mail log and
//! the outbox. The operating system releases a lock when its holder exits,
//! so a crashed process never leaves a stale one behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Held while a run reads and writes the project's state; released on drop.
pub struct ProjectLock {
    _file: File,
}

impl ProjectLock {
    /// Takes `.warroom/lock`, waiting for another process holding it;
    /// `on_wait` is called once when that happens.
    pub fn acquire(root: &Path, on_wait: impl FnOnce()) -> std::io::Result<Self> {
        let file = open(root, "lock")?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                file.lock()?;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        Ok(Self { _file: file })
    }

    /// Takes `.warroom/watch.lock` for as long as a watcher lives; `None`
    /// when another watcher holds it.
    pub fn try_watch(root: &Path) -> std::io::Result<Option<Self>> {
        let file = open(root, "watch.lock")?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

fn open(root: &Path, name: &str) -> std::io::Result<File> {
    let dir = root.join(".warroom");
    std::fs::create_dir_all(&dir)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(name))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_holder_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProjectLock::acquire(dir.path(), || panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = mpsc::channel();
        let root = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let waited = std::cell::Cell::new(false);
            let _second = ProjectLock::acquire(&root, || waited.set(true)).unwrap();
            tx.send(waited.get()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the lock was not exclusive"
        );
        drop(first);
        assert!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "the waiter was not told"
        );
        waiter.join().unwrap();
    }

    #[test]
    fn only_one_watcher_per_project() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProjectLock::try_watch(dir.path()).unwrap();
        assert!(first.is_some());
        assert!(ProjectLock::try_watch(dir.path()).unwrap().is_none());
        drop(first);
        assert!(ProjectLock::try_watch(dir.path()).unwrap().is_some());
    }
}

//! When to run: landed changes collect until the watched folders have been
//! quiet for the debounce window and no file is still being written, so a
//! burst of files is one run; a change never waits longer than `max_wait`,
//! so a steady trickle still runs. Changes that land while a run is in
//! flight collect into the one run after it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Landed changes not yet run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Work {
    /// Data files that landed (or were deleted).
    pub data: BTreeSet<PathBuf>,
    /// Definition files that changed.
    pub definitions: BTreeSet<PathBuf>,
}

impl Work {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.definitions.is_empty()
    }
}

/// Collects work and says when it is due.
#[derive(Debug)]
pub struct Schedule {
    quiet: Duration,
    max_wait: Duration,
    work: Work,
    /// When the oldest waiting change landed.
    oldest: Option<Instant>,
    /// When the last event of any kind arrived.
    last_event: Option<Instant>,
}

impl Schedule {
    /// A schedule waiting for `quiet` of silence, at most `max_wait`.
    pub fn new(quiet: Duration, max_wait: Duration) -> Self {
        Self {
            quiet,
            max_wait,
            work: Work::default(),
            oldest: None,
            last_event: None,
        }
    }

    /// Changes the windows (after `[watch]` was edited); waiting work stays.
    pub fn set_windows(&mut self, quiet: Duration, max_wait: Duration) {
        self.quiet = quiet;
        self.max_wait = max_wait;
    }

    /// Something happened in a watched folder (landed or not).
    pub fn event(&mut self, now: Instant) {
        self.last_event = Some(now);
    }

    /// A data file landed.
    pub fn data(&mut self, path: PathBuf, now: Instant) {
        self.work.data.insert(path);
        self.oldest.get_or_insert(now);
    }

    /// A definition file changed.
    pub fn definition(&mut self, path: PathBuf, now: Instant) {
        self.event(now);
        self.work.definitions.insert(path);
        self.oldest.get_or_insert(now);
    }

    /// The work to run now, if it is due: when there is some, and either
    /// the folders are quiet with nothing half-written, or the oldest change
    /// has waited `max_wait`.
    pub fn due(&mut self, now: Instant, writing: bool) -> Option<Work> {
        let oldest = self.oldest?;
        let quiet = self.last_event.is_none_or(|t| now.duration_since(t) >= self.quiet);
        if (quiet && !writing) || now.duration_since(oldest) >= self.max_wait {
            self.oldest = None;
            return Some(std::mem::take(&mut self.work));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(1500);
    const MAX: Duration = Duration::from_millis(10_000);

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_of_files_is_one_run() {
        let t0 = Instant::now();
        let mut s = Schedule::new(QUIET, MAX);
        for i in 0..30 {
            s.event(ms(t0, i * 20));
            s.data(PathBuf::from(format!("data/orders/{i:02}.parquet")), ms(t0, i * 20));
        }
        assert_eq!(s.due(ms(t0, 1000), false), None);
        let work = s.due(ms(t0, 580 + 1500), false).expect("due once quiet");
        assert_eq!(work.data.len(), 30);
        assert_eq!(s.due(ms(t0, 5000), false), None);
    }

    #[test]
    fn nothing_runs_while_a_file_is_half_written_until_max_wait() {
        let t0 = Instant::now();
        let mut s = Schedule::new(QUIET, MAX);
        s.event(t0);
        s.data(PathBuf::from("a.csv"), t0);
        assert_eq!(s.due(ms(t0, 2000), true), None);
        assert!(s.due(ms(t0, 10_000), true).is_some());
    }

    #[test]
    fn a_steady_trickle_runs_by_max_wait() {
        let t0 = Instant::now();
        let mut s = Schedule::new(QUIET, MAX);
        let mut runs = Vec::new();
        for tick in 0..250u64 {
            let now = ms(t0, tick * 100);
            if tick % 10 == 0 {
                s.event(now);
                s.data(PathBuf::from(format!("{tick}.csv")), now);
            }
            if let Some(work) = s.due(now, false) {
                runs.push((tick, work.data.len()));
            }
        }
        assert_eq!(runs, vec![(100, 11), (210, 11)]);
    }

    #[test]
    fn changes_during_a_run_make_one_follow_up() {
        let t0 = Instant::now();
        let mut s = Schedule::new(QUIET, MAX);
        s.event(t0);
        s.data(PathBuf::from("a.csv"), t0);
        let first = s.due(ms(t0, 1500), false).unwrap();
        assert_eq!(first.data.len(), 1);
        // The run takes 3 s; three files land meanwhile and are seen after it.
        for (i, name) in ["b.csv", "c.csv", "d.csv"].iter().enumerate() {
            s.event(ms(t0, 4500));
            s.data(PathBuf::from(name), ms(t0, 4500 + i as u64));
        }
        let follow_up = s.due(ms(t0, 6000), false).unwrap();
        assert_eq!(follow_up.data.len(), 3);
        assert_eq!(s.due(ms(t0, 20_000), false), None);
    }

    #[test]
    fn a_definition_change_is_work_too() {
        let t0 = Instant::now();
        let mut s = Schedule::new(QUIET, MAX);
        s.definition(PathBuf::from("reports/war_room.toml"), t0);
        let work = s.due(ms(t0, 1500), false).unwrap();
        assert!(work.data.is_empty() && work.definitions.len() == 1);
    }
}

//! `warroom watch`: noticing landed data and changed definitions.
//!
//! The [`watcher`] classifies file events into changes; [`landing`] decides
//! when a written file is complete; [`schedule`] collects landed changes
//! into runs; [`routes`] maps them to the reports to re-run. The loop that
//! ties them together is `cmd::watch`.

pub mod landing;
pub mod routes;
pub mod schedule;
pub mod watcher;

//! warroom: a declarative report engine for sales war rooms.
//!
//! Analysts write KPIs and targets in TOML ([`config`]); DataFusion
//! evaluates them over CSV and Parquet ([`engine`]) into
//! `results.json` ([`results`], [`output`]).

pub mod alerts;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod deliver;
pub mod engine;
pub mod format;
pub mod lock;
pub mod output;
pub mod period;
pub mod pipeline;
pub mod render;
pub mod results;
pub mod state;
pub mod watch;

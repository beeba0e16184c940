//! Evaluating reports with DataFusion.
//!
//! [`session`] builds the DataFusion session of a run; [`sources`] and
//! [`tables`] register data files and views; [`check`] plans each SQL
//! fragment on its own so errors point at the TOML; [`queries`] fuses KPIs
//! into few scans (see its doc for the strategy); [`report`] turns the
//! resulting series into KPI fields with [`fields`], [`derived`] and
//! [`drivers`].

pub mod breakdowns;
pub mod check;
pub mod derived;
pub mod drivers;
pub mod fields;
pub mod funnels;
pub mod params;
pub mod plan_error;
pub mod queries;
pub mod report;
pub mod rollup;
pub mod session;
pub mod sources;
pub mod sql;
pub mod table_queries;
pub mod tables;

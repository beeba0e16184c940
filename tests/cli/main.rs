//! warroom's integration tests: the real binary on real CSV and Parquet.

mod differential;
mod errors;
mod kpis;
mod mail;
mod render;
mod sample;
mod sections;
mod smtp;
mod sources;
mod support;
mod watch;

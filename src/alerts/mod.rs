//! Alert rules: conditions compiled once as minijinja expressions
//! ([`expr`]), evaluated over KPI fields, breakdown rows and funnel stages
//! ([`evaluate`]), with instance states kept across runs ([`state`]).

pub mod evaluate;
pub mod expr;
pub mod state;

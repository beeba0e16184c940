//! Mailing reports: when to send ([`policy`], over the results
//! [`fingerprint`]), what to send ([`message`]), and how without losing or
//! doubling a message ([`outbox`], [`smtp`]).

pub mod compose;
pub mod dispatch;
pub mod fingerprint;
pub mod message;
pub mod outbox;
pub mod policy;
pub mod smtp;

//! Native nodes for the atomiton engine.
//!
//! The node logic lives in pure-Rust cores (`csv_run`, `hashing`) that know nothing of Python and
//! are unit-tested with `cargo test --no-default-features`. The `python` feature adds the PyO3
//! bindings (`py`): one function per node with the calling convention of atomiton's `rust`
//! runtime, `handler(inputs: dict, parameters: dict[, context]) -> dict of outputs`.

pub mod control;
pub mod csv_fast;
pub mod csv_fold;
pub mod csv_job;
pub mod csv_run;
pub mod error;
pub mod hashing;

#[cfg(feature = "python")]
mod py;

#[cfg(test)]
mod csv_tests;

#[cfg(test)]
mod csv_fast_tests;

//! How a long native call hears about cancellation and reports progress.
//!
//! The cores take a `&dyn Control` so they stay free of Python: the bindings implement it with
//! an atomic flag the caller sets and a progress callback that briefly re-attaches to Python.

/// Cancellation and progress for one call. Implementations must be cheap to poll.
pub trait Control: Sync {
    /// True once the caller asked the work to stop.
    fn cancelled(&self) -> bool;
    /// Report progress in percent (0 to 100) with a short message.
    fn progress(&self, percent: f64, message: &str);
}

/// A control that is never cancelled and drops progress (tests, direct calls).
pub struct NoControl;

impl Control for NoControl {
    fn cancelled(&self) -> bool {
        false
    }

    fn progress(&self, _percent: f64, _message: &str) {}
}

/// Reports progress only when it moved by at least `step` percent since the last report.
pub struct Throttle {
    step: f64,
    last: f64,
}

impl Throttle {
    pub fn new(step: f64) -> Self {
        Self {
            step,
            last: f64::NEG_INFINITY,
        }
    }

    pub fn report(&mut self, control: &dyn Control, percent: f64, message: &str) {
        if percent - self.last >= self.step {
            self.last = percent;
            control.progress(percent, message);
        }
    }
}

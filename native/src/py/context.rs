//! `CallContext`: the cancel flag and progress callback of one call, shared with Python.
//!
//! The runtime creates one per call, passes it as the handler's third argument and calls
//! `cancel()` when the awaiting task is cancelled. The flag is an atomic, so the detached native
//! code polls it without the GIL; progress re-attaches briefly to call the Python callback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;

use crate::control::Control;

#[pyclass(frozen, module = "atomiton_native")]
pub struct CallContext {
    flag: Arc<AtomicBool>,
    progress: Option<Py<PyAny>>,
}

#[pymethods]
impl CallContext {
    /// `progress`, if given, is called as `progress(percent: float, message: str)`.
    #[new]
    #[pyo3(signature = (progress=None))]
    fn new(progress: Option<Py<PyAny>>) -> Self {
        Self {
            flag: Arc::new(AtomicBool::new(false)),
            progress,
        }
    }

    /// Ask the native code to stop at its next check (it then raises InterruptedError).
    fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// The [`Control`] a node core sees: built while attached, used while detached.
pub struct PyControl {
    flag: Option<Arc<AtomicBool>>,
    progress: Option<Py<PyAny>>,
}

impl PyControl {
    pub fn new(py: Python<'_>, context: Option<&Bound<'_, CallContext>>) -> Self {
        match context {
            None => Self {
                flag: None,
                progress: None,
            },
            Some(ctx) => {
                let ctx = ctx.get();
                Self {
                    flag: Some(Arc::clone(&ctx.flag)),
                    progress: ctx.progress.as_ref().map(|p| p.clone_ref(py)),
                }
            }
        }
    }
}

impl Control for PyControl {
    fn cancelled(&self) -> bool {
        self.flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn progress(&self, percent: f64, message: &str) {
        if let Some(callback) = &self.progress {
            Python::attach(|py| {
                if let Err(err) = callback.call1(py, (percent, message)) {
                    err.write_unraisable(py, None);
                }
            });
        }
    }
}

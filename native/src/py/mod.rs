//! The Python module `atomiton_native`: one function per node, plus `CallContext`.
//!
//! Every node function follows the `rust` runtime's calling convention,
//! `handler(inputs: dict, parameters: dict[, context: CallContext]) -> dict of outputs`, where a
//! value in `inputs` wins over the same name in `parameters`. Long work runs detached from the
//! interpreter (`Python::detach`, the GIL released) so other Python threads keep going.

mod args;
mod context;
mod nodes;

use pyo3::exceptions::{
    PyFileNotFoundError, PyInterruptedError, PyNotImplementedError, PyOSError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::NativeError;

pub use context::CallContext;

/// Map a core error to the Python exception a caller would expect.
pub(crate) fn to_py(err: NativeError) -> PyErr {
    let message = err.to_string();
    match err {
        NativeError::NotFound { .. } => PyFileNotFoundError::new_err(message),
        NativeError::Io { .. } => PyOSError::new_err(message),
        NativeError::Cancelled { .. } => PyInterruptedError::new_err(message),
        NativeError::Unsupported(_) => PyNotImplementedError::new_err(message),
        NativeError::UnknownColumn { .. }
        | NativeError::BadNumber { .. }
        | NativeError::Csv { .. }
        | NativeError::Invalid(_) => PyValueError::new_err(message),
    }
}

#[pymodule]
fn atomiton_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(nodes::add, m)?)?;
    m.add_function(wrap_pyfunction!(nodes::hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(nodes::process_large_csv, m)?)?;
    m.add_class::<CallContext>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("HASH_ALGORITHMS", crate::hashing::ALGORITHMS.to_vec())?;
    Ok(())
}

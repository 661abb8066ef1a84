//! A minimal custom Rust node for atomiton: `word_stats(inputs, parameters) -> outputs`.
//!
//! The calling convention of atomiton's `rust` runtime: two dicts in (a name is looked up in
//! `inputs` first, then `parameters`), a dict of output port to value out. Errors are Python
//! exceptions; the runtime turns them into a failed node with the exception's type and message.

use std::collections::HashSet;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Look `name` up in `inputs`, then in `parameters`; `None` counts as absent.
fn arg<'py>(
    inputs: &Bound<'py, PyDict>,
    parameters: &Bound<'py, PyDict>,
    name: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    for source in [inputs, parameters] {
        if let Some(value) = source.get_item(name)? {
            if !value.is_none() {
                return Ok(Some(value));
            }
        }
    }
    Ok(None)
}

#[pyfunction]
fn word_stats<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyDict>,
    parameters: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let text: String = arg(inputs, parameters, "text")?
        .ok_or_else(|| {
            PyValueError::new_err("'text' is required; connect it or set it as a parameter")
        })?
        .extract()
        .map_err(|_| PyTypeError::new_err("'text' must be a string"))?;
    let min_length: usize = match arg(inputs, parameters, "min_length")? {
        None => 1,
        Some(v) => v
            .extract()
            .map_err(|_| PyTypeError::new_err("'min_length' must be a positive integer"))?,
    };
    // The work runs detached from the interpreter: other Python threads keep going meanwhile.
    let (words, unique, lines) = py.detach(|| {
        let mut seen = HashSet::new();
        let mut words = 0usize;
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= min_length)
        {
            words += 1;
            seen.insert(word.to_lowercase());
        }
        (words, seen.len(), text.lines().count())
    });
    let out = PyDict::new(py);
    out.set_item("words", words)?;
    out.set_item("unique", unique)?;
    out.set_item("lines", lines)?;
    Ok(out)
}

#[pymodule]
fn atomiton_example_rust(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(word_stats, m)?)
}

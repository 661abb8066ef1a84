//! Reading a node's arguments: a name is looked up in `inputs`, then in `parameters` (a value on
//! an edge wins over the configured one); `None` counts as absent. Type errors name the argument,
//! the expected type and the type received.

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

pub struct Args<'a, 'py> {
    inputs: &'a Bound<'py, PyDict>,
    parameters: &'a Bound<'py, PyDict>,
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

pub fn wrong_type(name: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "'{name}' must be {expected}, got {}",
        type_name(got)
    ))
}

impl<'a, 'py> Args<'a, 'py> {
    pub fn new(inputs: &'a Bound<'py, PyDict>, parameters: &'a Bound<'py, PyDict>) -> Self {
        Self { inputs, parameters }
    }

    pub fn get(&self, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        for source in [self.inputs, self.parameters] {
            if let Some(value) = source.get_item(name)? {
                if !value.is_none() {
                    return Ok(Some(value));
                }
            }
        }
        Ok(None)
    }

    pub fn required(&self, name: &str, what: &str) -> PyResult<Bound<'py, PyAny>> {
        self.get(name)?.ok_or_else(|| {
            PyValueError::new_err(format!(
                "'{name}' is required ({what}); set it as an input or a parameter"
            ))
        })
    }

    pub fn path(&self, name: &str, what: &str) -> PyResult<PathBuf> {
        let value = self.required(name, what)?;
        value
            .extract::<PathBuf>()
            .map_err(|_| wrong_type(name, "a path (str)", &value))
    }

    pub fn optional_path(&self, name: &str) -> PyResult<Option<PathBuf>> {
        match self.get(name)? {
            None => Ok(None),
            Some(v)
                if v.cast::<PyString>()
                    .is_ok_and(|s| s.to_str().is_ok_and(str::is_empty)) =>
            {
                Ok(None)
            }
            Some(v) => v
                .extract::<PathBuf>()
                .map(Some)
                .map_err(|_| wrong_type(name, "a path (str)", &v)),
        }
    }

    pub fn string(&self, name: &str, default: &str) -> PyResult<String> {
        match self.get(name)? {
            None => Ok(default.to_string()),
            Some(v) => v
                .extract::<String>()
                .map_err(|_| wrong_type(name, "a string", &v)),
        }
    }

    pub fn boolean(&self, name: &str, default: bool) -> PyResult<bool> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) => v
                .extract::<bool>()
                .map_err(|_| wrong_type(name, "true or false", &v)),
        }
    }

    /// A count (a non-negative integer).
    pub fn count(&self, name: &str, default: usize) -> PyResult<usize> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) if v.is_instance_of::<PyBool>() => Err(wrong_type(name, "a count", &v)),
            Some(v) => v
                .extract::<usize>()
                .map_err(|_| wrong_type(name, "a non-negative integer", &v)),
        }
    }

    /// A mapping of strings to strings (`types`), in insertion order.
    pub fn string_map(&self, name: &str) -> PyResult<Vec<(String, String)>> {
        let Some(value) = self.get(name)? else {
            return Ok(Vec::new());
        };
        let map = value
            .cast::<PyDict>()
            .map_err(|_| wrong_type(name, "an object of strings", &value))?;
        map.iter()
            .map(|(k, v)| {
                Ok((
                    k.extract::<String>()
                        .map_err(|_| wrong_type(name, "an object of strings", &k))?,
                    v.extract::<String>()
                        .map_err(|_| wrong_type(&format!("{name}.{k}"), "a string", &v))?,
                ))
            })
            .collect()
    }

    /// One string or a list of strings.
    pub fn strings(&self, name: &str) -> PyResult<Vec<String>> {
        let Some(value) = self.get(name)? else {
            return Ok(Vec::new());
        };
        if let Ok(one) = value.extract::<String>() {
            return Ok(if one.is_empty() {
                Vec::new()
            } else {
                vec![one]
            });
        }
        value
            .extract::<Vec<String>>()
            .map_err(|_| wrong_type(name, "a string or a list of strings", &value))
    }

    /// One mapping or a list of mappings (a filter, the aggregations).
    pub fn mappings(&self, name: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let Some(value) = self.get(name)? else {
            return Ok(Vec::new());
        };
        if let Ok(one) = value.cast::<PyDict>() {
            return Ok(vec![one.clone()]);
        }
        let items: Vec<Bound<'py, PyAny>> = if let Ok(list) = value.cast::<PyList>() {
            list.iter().collect()
        } else if let Ok(tuple) = value.cast::<PyTuple>() {
            tuple.iter().collect()
        } else {
            return Err(wrong_type(name, "an object or a list of objects", &value));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item.cast::<PyDict>() {
                Ok(map) => Ok(map.clone()),
                Err(_) => Err(wrong_type(&format!("{name}[{i}]"), "an object", &item)),
            })
            .collect()
    }
}

/// A string field of a mapping argument, e.g. `filter.column`.
pub fn field_string(
    map: &Bound<'_, PyDict>,
    owner: &str,
    keys: &[&str],
) -> PyResult<Option<String>> {
    for key in keys {
        if let Some(value) = map.get_item(key)? {
            if value.is_none() {
                continue;
            }
            let name = format!("{owner}.{key}");
            return value
                .extract::<String>()
                .map(Some)
                .map_err(|_| wrong_type(&name, "a string", &value));
        }
    }
    Ok(None)
}

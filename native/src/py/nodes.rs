//! The node functions: arguments in, core call detached from Python, outputs out.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

use super::args::{field_string, type_name, wrong_type, Args};
use super::context::{CallContext, PyControl};
use super::to_py;
use crate::csv_job::{Aggregation, CsvJob, Filter, Kind, Operand, Summary, Value};
use crate::{csv_run, hashing};

/// `add`: `sum = a + b`. Integers stay integers (unless they overflow 64 bits); the trivial node
/// the overhead benchmark calls.
#[pyfunction]
#[pyo3(signature = (inputs, parameters, context=None))]
pub fn add<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyDict>,
    parameters: &Bound<'py, PyDict>,
    context: Option<&Bound<'py, CallContext>>,
) -> PyResult<Bound<'py, PyDict>> {
    let _ = context;
    let args = Args::new(inputs, parameters);
    let a = number(&args.required("a", "the first number")?, "a")?;
    let b = number(&args.required("b", "the second number")?, "b")?;
    let out = PyDict::new(py);
    match (a, b) {
        (Num::Int(x), Num::Int(y)) if x.checked_add(y).is_some() => out.set_item("sum", x + y)?,
        _ => out.set_item("sum", a.float() + b.float())?,
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn float(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }
}

fn number(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Num> {
    if value.is_instance_of::<PyBool>() {
        return Err(wrong_type(name, "a number", value));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Num::Int(i));
        }
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        return Ok(Num::Float(value.extract::<f64>()?));
    }
    Err(wrong_type(name, "a number", value))
}

/// `hash_file`: streaming digest of `path` (`algorithm`: sha256 (default), sha512, blake3).
#[pyfunction]
#[pyo3(signature = (inputs, parameters, context=None))]
pub fn hash_file<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyDict>,
    parameters: &Bound<'py, PyDict>,
    context: Option<&Bound<'py, CallContext>>,
) -> PyResult<Bound<'py, PyDict>> {
    let args = Args::new(inputs, parameters);
    let path = args.path("path", "the file to hash")?;
    let algorithm = args.string("algorithm", "sha256")?;
    let control = PyControl::new(py, context);
    let digest = py
        .detach(|| hashing::hash_file(&path, &algorithm, &control))
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("digest", digest.hex)?;
    out.set_item("size", digest.size)?;
    out.set_item("algorithm", digest.algorithm)?;
    Ok(out)
}

/// `process_large_csv`: stream `path`, keep rows passing `filter`, then either group them
/// (`group_by`, `aggregations`) or copy them to `output_path`. See docs/runtimes-rust.md.
#[pyfunction]
#[pyo3(signature = (inputs, parameters, context=None))]
pub fn process_large_csv<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyDict>,
    parameters: &Bound<'py, PyDict>,
    context: Option<&Bound<'py, CallContext>>,
) -> PyResult<Bound<'py, PyDict>> {
    let job = csv_job(&Args::new(inputs, parameters))?;
    let control = PyControl::new(py, context);
    let summary = py.detach(|| csv_run::run(&job, &control)).map_err(to_py)?;
    csv_outputs(py, &job, summary)
}

fn csv_job(args: &Args<'_, '_>) -> PyResult<CsvJob> {
    let mut job = CsvJob::new(args.path("path", "the CSV file to read")?);
    job.output = args.optional_path("output_path")?;
    let delimiter = args.string("delimiter", ",")?;
    job.delimiter = match delimiter.as_bytes() {
        [single] => *single,
        _ if delimiter == "\\t" => b'\t',
        _ => {
            return Err(PyTypeError::new_err(format!(
                "'delimiter' must be one ASCII character, got '{delimiter}'"
            )))
        }
    };
    job.has_header = args.boolean("has_header", true)?;
    job.collect_groups = args.boolean("return_rows", true)?;
    job.empty_is_null = args.boolean("empty_is_null", false)?;
    job.fallback = args.boolean("fallback", true)?;
    job.threads = args.count("threads", 0)?;
    job.max_groups = args.count("max_groups", 0)?;
    for (column, kind) in args.string_map("types")? {
        job.kinds.push((column, Kind::parse(&kind).map_err(to_py)?));
    }
    for (i, map) in args.mappings("filter")?.iter().enumerate() {
        let owner = format!("filter[{i}]");
        let column = field_string(map, &owner, &["column"])?
            .ok_or_else(|| PyTypeError::new_err(format!("'{owner}' needs a 'column'")))?;
        let op = field_string(map, &owner, &["op", "operator"])?.unwrap_or_else(|| "==".into());
        let value = map
            .get_item("value")?
            .ok_or_else(|| PyTypeError::new_err(format!("'{owner}' needs a 'value'")))?;
        let operand = if value.is_instance_of::<PyBool>() {
            Operand::Bool(value.extract()?)
        } else if value.is_instance_of::<PyString>() {
            Operand::Text(value.extract()?)
        } else if value.is_instance_of::<PyInt>() && value.extract::<i64>().is_ok() {
            Operand::Int(value.extract()?)
        } else if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
            Operand::Number(value.extract()?)
        } else {
            let got = type_name(&value);
            return Err(PyTypeError::new_err(format!(
                "'{owner}.value' must be a number, a string or a boolean, got {got}"
            )));
        };
        job.filters
            .push(Filter::new(&column, &op, operand).map_err(to_py)?);
    }
    job.group_by = args.strings("group_by")?;
    for (i, map) in args.mappings("aggregations")?.iter().enumerate() {
        let owner = format!("aggregations[{i}]");
        let column = field_string(map, &owner, &["column"])?;
        let op = field_string(map, &owner, &["op", "agg", "function"])?
            .ok_or_else(|| PyTypeError::new_err(format!("'{owner}' needs an 'op'")))?;
        let alias = field_string(map, &owner, &["as", "alias", "name"])?;
        let agg = Aggregation::new(column.as_deref(), &op, alias.as_deref()).map_err(to_py)?;
        job.aggregations.push(agg);
    }
    if !job.group_by.is_empty() && job.aggregations.is_empty() {
        job.aggregations
            .push(Aggregation::new(None, "count", None).map_err(to_py)?);
    }
    Ok(job)
}

fn csv_outputs<'py>(
    py: Python<'py>,
    job: &CsvJob,
    summary: Summary,
) -> PyResult<Bound<'py, PyDict>> {
    let output_path = summary
        .output
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let info = PyDict::new(py);
    info.set_item("rows_read", summary.rows_read)?;
    info.set_item("rows_matched", summary.rows_matched)?;
    info.set_item("groups", summary.groups)?;
    info.set_item("output_path", &output_path)?;
    info.set_item("columns", &summary.columns)?;
    info.set_item("elapsed_ms", summary.elapsed_s * 1000.0)?;
    info.set_item("pass", summary.pass)?;
    info.set_item("threads", summary.threads)?;
    let out = PyDict::new(py);
    out.set_item("summary", info)?;
    out.set_item("output_path", output_path)?;
    if job.aggregates() && job.collect_groups {
        let rows = PyList::empty(py);
        for (key, values) in summary.group_rows {
            let row = PyDict::new(py);
            for (name, k) in summary.columns.iter().zip(key) {
                row.set_item(name, k)?;
            }
            for (name, v) in summary.columns[job.group_by.len()..].iter().zip(values) {
                match v {
                    Value::Int(i) => row.set_item(name, i)?,
                    Value::Float(f) => row.set_item(name, f)?,
                    Value::Null => row.set_item(name, py.None())?,
                }
            }
            rows.append(row)?;
        }
        out.set_item("rows", rows)?;
    }
    Ok(out)
}

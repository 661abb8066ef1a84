//! The parallel pass against the sequential one: same groups on files that cross many blocks,
//! the files it hands back (quotes, ragged rows, bad values), and the typed reading of columns.

use std::path::PathBuf;

use crate::control::NoControl;
use crate::csv_fold::parse_float;
use crate::csv_job::{Aggregation, CsvJob, Filter, Kind, Operand, Summary, Value};
use crate::csv_run::run;
use crate::error::NativeError;

fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("atomiton-fast-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A file of `rows` rows: id, a 10-value key, an integer, a float with two decimals, a flag.
fn table(rows: usize, crlf: bool) -> String {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut text = format!("id,key,n,x,flag{end}");
    let mut state = 7u64;
    for id in 0..rows {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = (state >> 33) % 10;
        let n = (state >> 20) % 1000;
        let x = (state >> 40) % 100_000;
        let flag = if state >> 63 == 1 { "true" } else { "False" };
        let key = if id % 97 == 0 {
            String::new()
        } else {
            format!("k{key}")
        };
        text += &format!("{id},{key},{n},{}.{:02},{flag}{end}", x / 100, x % 100);
    }
    text
}

fn job(path: &PathBuf, threads: usize, fallback: bool) -> CsvJob {
    let mut job = CsvJob::new(path);
    job.threads = threads;
    job.fallback = fallback;
    job.empty_is_null = true;
    job.kinds = vec![
        ("n".into(), Kind::Int),
        ("x".into(), Kind::Float),
        ("flag".into(), Kind::Bool),
        ("key".into(), Kind::Text),
    ];
    job.filters
        .push(Filter::new("flag", "==", Operand::Bool(true)).unwrap());
    job.filters
        .push(Filter::new("n", ">=", Operand::Int(100)).unwrap());
    job.group_by = vec!["key".into()];
    for (column, op) in [("n", "sum"), ("n", "max"), ("x", "min"), ("x", "mean")] {
        job.aggregations
            .push(Aggregation::new(Some(column), op, None).unwrap());
    }
    job.aggregations
        .push(Aggregation::new(None, "count", None).unwrap());
    job
}

fn close(a: &Summary, b: &Summary) {
    assert_eq!((a.rows_read, a.rows_matched), (b.rows_read, b.rows_matched));
    assert_eq!(a.group_rows.len(), b.group_rows.len());
    for ((ka, va), (kb, vb)) in a.group_rows.iter().zip(&b.group_rows) {
        assert_eq!(ka, kb);
        for (x, y) in va.iter().zip(vb) {
            match (x, y) {
                (Value::Float(x), Value::Float(y)) => assert!((x - y).abs() <= 1e-9 * x.abs()),
                _ => assert_eq!(x, y),
            }
        }
    }
}

#[test]
fn parallel_and_sequential_passes_agree_across_blocks() {
    // ~12 MB: three blocks of 4 MiB, so lines straddle block ends.
    let input = temp("blocks.csv", &table(400_000, false));
    let parallel = run(&job(&input, 3, false), &NoControl).unwrap();
    assert_eq!((parallel.pass, parallel.threads), ("parallel", 3));
    let one = run(&job(&input, 1, false), &NoControl).unwrap();
    // A quote in the last row sends the same data to the sequential pass.
    let quoted = temp(
        "blocks-quoted.csv",
        &(table(400_000, false) + "\"x\",k1,1,1.0,false\n"),
    );
    let sequential = run(&job(&quoted, 0, true), &NoControl).unwrap();
    assert_eq!(sequential.pass, "sequential");
    close(&parallel, &one);
    let mut sequential = sequential;
    sequential.rows_read -= 1;
    close(&parallel, &sequential);
    // The row with an empty key is a null group, sorted first.
    assert_eq!(parallel.group_rows[0].0, vec![None]);
    assert_eq!(parallel.group_rows.len(), 11);
}

#[test]
fn crlf_lines_and_a_missing_last_newline_read_alike() {
    let lf = temp("lf.csv", &table(1000, false));
    let crlf = temp("crlf.csv", table(1000, true).trim_end());
    let a = run(&job(&lf, 2, false), &NoControl).unwrap();
    let b = run(&job(&crlf, 2, false), &NoControl).unwrap();
    assert_eq!(b.pass, "parallel");
    close(&a, &b);
}

#[test]
fn files_the_parallel_pass_cannot_read_are_handed_back() {
    let cases = [
        ("quote.csv", "a,b\n\"x\",1\n", "quoted fields"),
        (
            "short.csv",
            "a,b\nx,1\ny\n",
            "a row has 1 field(s) where the header has 2",
        ),
        (
            "long.csv",
            "a,b\nx,1,2\ny,2",
            "a row has 3 field(s) where the header has 2",
        ),
        (
            "last.csv",
            "a,b\nx,1\ny",
            "a row has 1 field(s) where the header has 2",
        ),
        (
            "blank.csv",
            "a,b\nx,1\n\ny,2\n",
            "field(s) where the header has 2",
        ),
        (
            "bad.csv",
            "a,b\nx,1\ny,1.5\n",
            "'1.5' where an integer was expected",
        ),
    ];
    for (name, text, reason) in cases {
        let input = temp(name, text);
        let mut job = CsvJob::new(&input);
        job.fallback = false;
        job.kinds = vec![("b".into(), Kind::Int)];
        job.group_by = vec!["a".into()];
        job.aggregations
            .push(Aggregation::new(Some("b"), "sum", None).unwrap());
        let err = run(&job, &NoControl).unwrap_err();
        assert!(matches!(err, NativeError::Unsupported(_)), "{name}: {err}");
        assert!(err.to_string().contains(reason), "{name}: {err}");
    }
}

#[test]
fn typed_columns_read_as_polars_reads_them() {
    let text = "k,b,n,s\n007,TRUE,9007199254740993,\n7,true,1,x\n,false,-2,y\n";
    let input = temp("typed.csv", text);
    let mut job = CsvJob::new(&input);
    job.fallback = false;
    job.empty_is_null = true;
    job.kinds = vec![
        ("k".into(), Kind::Int),
        ("b".into(), Kind::Bool),
        ("n".into(), Kind::Int),
        ("s".into(), Kind::Text),
    ];
    job.group_by = vec!["k".into(), "b".into()];
    job.aggregations
        .push(Aggregation::new(Some("n"), "sum", None).unwrap());
    job.aggregations
        .push(Aggregation::new(Some("s"), "count", None).unwrap());
    let summary = run(&job, &NoControl).unwrap();
    let keys: Vec<_> = summary.group_rows.iter().map(|(k, _)| k.clone()).collect();
    let key = |k: Option<&str>, b: &str| vec![k.map(String::from), Some(b.to_string())];
    assert_eq!(keys, [key(None, "false"), key(Some("7"), "true")]);
    // 2^53 + 1 + 1 is exact as an integer, not as a float.
    assert_eq!(
        summary.group_rows[1].1,
        [Value::Int(9007199254740994), Value::Int(1)]
    );
    // An empty text field is null: no text comparison matches it.
    job.filters
        .push(Filter::new("s", "!=", Operand::Text("x".into())).unwrap());
    job.group_by.clear();
    let summary = run(&job, &NoControl).unwrap();
    assert_eq!(summary.rows_matched, 1);
}

#[test]
fn the_fast_float_parser_reads_what_str_parse_reads() {
    let cases = [
        "0",
        "-0.0",
        "1.5",
        "+2.25",
        "123456.789012345",
        "0.1",
        "999999999999999",
        "1234567890123456.5",
        ".5",
        "5.",
        "1e5",
        "-2.5E-3",
        "inf",
        "NaN",
        "",
        "-",
        ".",
        "1.2.3",
        "0.30000000000000004",
        "3.14159265358979",
    ];
    for case in cases {
        let expected = case.parse::<f64>().ok();
        let got = parse_float(case.as_bytes());
        assert_eq!(
            got.map(f64::to_bits),
            expected.map(f64::to_bits),
            "{case}: {got:?} vs {expected:?}"
        );
    }
    let mut state = 1u64;
    for _ in 0..100_000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let text = format!("{}.{:0width$}", state >> 40, state % 1_000_000, width = 6);
        assert_eq!(
            parse_float(text.as_bytes()),
            text.parse::<f64>().ok(),
            "{text}"
        );
    }
}

struct Cancelled;

impl crate::control::Control for Cancelled {
    fn cancelled(&self) -> bool {
        true
    }

    fn progress(&self, _percent: f64, _message: &str) {}
}

#[test]
fn a_set_cancel_flag_stops_the_parallel_pass() {
    let input = temp("cancel.csv", &table(1000, false));
    let err = run(&job(&input, 2, false), &Cancelled).unwrap_err();
    assert!(matches!(err, NativeError::Cancelled { .. }), "{err}");
}

#[test]
fn more_groups_than_allowed_hand_the_file_back() {
    let input = temp("groups.csv", &table(1000, false));
    let mut many = job(&input, 1, false);
    many.group_by = vec!["id".into()];
    many.max_groups = 100;
    let err = run(&many, &NoControl).unwrap_err();
    assert!(err.to_string().contains("more than 100 groups"), "{err}");
    many.max_groups = 1000;
    assert_eq!(run(&many, &NoControl).unwrap().pass, "parallel");
}

//! Chaos Toolkit's tolerances (`chaoslib/hypothesis.py`): whether a probe's output is within
//! the tolerance of its steady-state hypothesis, with Python's comparisons.
//!
//! - `true`/`false`, an integer, a string: the output equals it (an integer is compared with
//!   the `status` of an `{status, ...}` output, such as the http and process providers').
//! - a list: the output's `status` is in it; else, for two values, `lo <= output <= hi`;
//!   else the output is one of them.
//! - `{type: regex, pattern, target?}`: the pattern is found in the output (or its `target`
//!   field, such as `body` or `stdout`).
//! - `{type: jsonpath, path, target?, expect?, count?}`: the path selects something (or
//!   `count` values, or exactly `expect`), in the output or its `target` (JSON text is read).
//! - `{type: range, range: [lo, hi], target?}`: the number is in the range.
//! - `{type: probe, ...}`: another probe, given `value`, must return something true (run by
//!   the runner, not here).

use std::cmp::Ordering;

use serde_json::Value;

use super::jsonpath::JsonPath;
use super::{Problem, Vars, problem};

/// Chaos Toolkit's `ensure_hypothesis_tolerance_is_valid`, naming the field.
pub fn check(tolerance: &Value, path: &str) -> Result<(), Problem> {
    match tolerance {
        Value::Bool(_) | Value::String(_) | Value::Array(_) => Ok(()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
        Value::Number(_) => Err(problem(
            path,
            "a tolerance number must be an integer (Chaos Toolkit never matches a float tolerance): use a range [lo, hi]",
        )),
        Value::Null => Err(problem(
            path,
            "a tolerance is a value (true, 0, \"ok\"), a list or [lo, hi], or {type: regex|jsonpath|range|probe, ...}",
        )),
        Value::Object(t) => match t.get("type").and_then(Value::as_str) {
            Some("probe") => Ok(()),
            Some("regex") => match t.get("pattern") {
                // A pattern with `${name}` in it is known only once substituted, at run time.
                Some(Value::String(p)) if p.contains("${") => Ok(()),
                Some(Value::String(p)) => regex::Regex::new(p).map(|_| ()).map_err(|e| {
                    problem(
                        format!("{path}.pattern"),
                        format!("the pattern does not compile: {e}"),
                    )
                }),
                Some(_) => Err(problem(
                    format!("{path}.pattern"),
                    "the pattern is a string",
                )),
                None => Err(problem(
                    format!("{path}.pattern"),
                    "a regex tolerance must have a `pattern`",
                )),
            },
            Some("jsonpath") => match t.get("path").and_then(Value::as_str).map(str::trim) {
                None => Err(problem(
                    format!("{path}.path"),
                    "a jsonpath tolerance must have a `path`, such as $.status",
                )),
                Some("") => Err(problem(format!("{path}.path"), "the JSON path is empty")),
                // A path with `${name}` in it is known only once substituted, at run time.
                Some(p) if p.contains("${") => Ok(()),
                Some(p) => JsonPath::parse(p)
                    .map(|_| ())
                    .map_err(|e| problem(format!("{path}.path"), e)),
            },
            Some("range") => {
                let Some(range) = t.get("range") else {
                    return Err(problem(
                        format!("{path}.range"),
                        "a range tolerance must have `range: [lo, hi]`",
                    ));
                };
                match range.as_array().map(Vec::as_slice) {
                    Some([lo, hi]) if lo.is_number() && hi.is_number() => Ok(()),
                    Some([_, _]) => Err(problem(
                        format!("{path}.range"),
                        "the range's boundaries must be numbers",
                    )),
                    _ => Err(problem(
                        format!("{path}.range"),
                        "the range is a list of two numbers: [lo, hi]",
                    )),
                }
            }
            Some(other) => Err(problem(
                format!("{path}.type"),
                format!(
                    "tolerance type {other:?} is not supported: use regex, jsonpath, range or probe"
                ),
            )),
            None => Err(problem(
                format!("{path}.type"),
                "a tolerance mapping needs a type: regex, jsonpath, range or probe",
            )),
        },
    }
}

/// Whether `value` is within `tolerance` (not a `{type: probe}` one: see the module).
/// `vars` substitutes `${name}` in string tolerances, patterns, paths and `expect`.
pub fn within(tolerance: &Value, value: &Value, vars: &Vars) -> bool {
    let tolerance = match tolerance {
        Value::String(_) => vars.substitute(tolerance),
        other => other.clone(),
    };
    match &tolerance {
        Value::Bool(_) | Value::String(_) => py_eq(value, &tolerance),
        // Chaos Toolkit registers `int` only: a float tolerance never matches.
        Value::Number(n) if n.is_i64() || n.is_u64() => match status_of(value) {
            Some(status) => py_eq(status, &tolerance),
            None => py_eq(value, &tolerance),
        },
        Value::Array(items) => {
            if let Some(status) = status_of(value) {
                return items.iter().any(|t| py_eq(status, t));
            }
            if let [lo, hi] = items.as_slice() {
                return py_cmp(lo, value).is_some_and(Ordering::is_le)
                    && py_cmp(value, hi).is_some_and(Ordering::is_le);
            }
            items.iter().any(|t| py_eq(value, t))
        }
        Value::Object(t) => {
            let target = |value: &Value| -> Value {
                match (t.get("target").and_then(Value::as_str), value) {
                    (Some(field), Value::Object(map)) => {
                        map.get(field).cloned().unwrap_or_else(|| value.clone())
                    }
                    _ => value.clone(),
                }
            };
            match t.get("type").and_then(Value::as_str) {
                Some("regex") => {
                    let pattern = vars.substitute(t.get("pattern").unwrap_or(&Value::Null));
                    let (Some(pattern), Value::String(text)) = (pattern.as_str(), target(value))
                    else {
                        return false;
                    };
                    regex::Regex::new(pattern).is_ok_and(|rx| rx.is_match(&text))
                }
                Some("jsonpath") => {
                    let path = vars.substitute(t.get("path").unwrap_or(&Value::Null));
                    let Some(Ok(path)) = path.as_str().map(JsonPath::parse) else {
                        return false;
                    };
                    let mut doc = target(value);
                    if let Value::String(text) = &doc
                        && let Ok(parsed) = serde_json::from_str::<Value>(text)
                    {
                        doc = parsed;
                    }
                    let values = path.select(&doc);
                    let mut result = !values.is_empty();
                    if let Some(count) = t.get("count").filter(|c| !c.is_null()) {
                        result = count.as_u64() == u64::try_from(values.len()).ok();
                    }
                    if let Some(expect) = t.get("expect") {
                        let expect = vars.substitute(expect);
                        let expected: Vec<&Value> = match &expect {
                            Value::Array(items) => items.iter().collect(),
                            one => vec![one],
                        };
                        result = values.len() == expected.len()
                            && values.iter().zip(&expected).all(|(a, b)| py_eq(a, b));
                    }
                    result
                }
                Some("range") => {
                    let number = match target(value) {
                        Value::Number(n) => n.as_f64(),
                        Value::Bool(b) => Some(f64::from(u8::from(b))),
                        Value::String(s) => s.trim().parse::<f64>().ok(),
                        _ => None,
                    };
                    let bounds = t
                        .get("range")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().map(Value::as_f64).collect::<Vec<_>>());
                    match (number, bounds.as_deref()) {
                        (Some(x), Some([Some(lo), Some(hi)])) => *lo <= x && x <= *hi,
                        _ => false,
                    }
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// An `{status: ...}` output's status (the http and process providers').
fn status_of(value: &Value) -> Option<&Value> {
    value.as_object().and_then(|o| o.get("status"))
}

/// A number (or bool, as Python counts them) as f64.
fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Python's `==`: numbers and bools by value (`1 == 1.0 == True`), the rest structurally.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| py_eq(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
            }
            _ => a == b,
        },
    }
}

/// Python's ordering where it has one (numbers, strings); `None` where Python raises.
fn py_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn met(tolerance: Value, value: Value) -> bool {
        within(&tolerance, &value, &Vars::default())
    }

    #[test]
    fn exact_values() {
        assert!(met(json!(true), json!(true)));
        assert!(!met(json!(true), json!(false)));
        assert!(met(json!(true), json!(1)), "Python: True == 1");
        assert!(met(json!("ok"), json!("ok")));
        assert!(!met(json!("ok"), json!("ok\n")));
        assert!(met(
            json!(0),
            json!({"status": 0, "stdout": "x", "stderr": ""})
        ));
        assert!(!met(
            json!(0),
            json!({"status": 1, "stdout": "", "stderr": ""})
        ));
        assert!(met(
            json!(200),
            json!({"status": 200, "headers": {}, "body": ""})
        ));
        assert!(met(json!(3), json!(3.0)));
        assert!(
            !met(json!(1.5), json!(1.5)),
            "a float tolerance never matches"
        );
    }

    #[test]
    fn lists_and_ranges() {
        assert!(met(json!([200, 204]), json!({"status": 204})));
        assert!(
            !met(json!([200, 204]), json!({"status": 201})),
            "in, not between, for a status"
        );
        assert!(met(json!([1, 10]), json!(5)));
        assert!(met(json!([1, 10]), json!(10)));
        assert!(!met(json!([1, 10]), json!(11)));
        assert!(
            !met(json!([1, 10]), json!("5")),
            "no order between str and int"
        );
        assert!(met(json!([1, 2, 3]), json!(3)));
        assert!(!met(json!([1, 2, 3]), json!(4)));
        let range = json!({"type": "range", "range": [0.5, 2], "target": "stdout"});
        assert!(met(range.clone(), json!({"status": 0, "stdout": "1.5\n"})));
        assert!(!met(range.clone(), json!({"status": 0, "stdout": "7"})));
        assert!(!met(range, json!({"status": 0, "stdout": "seven"})));
    }

    #[test]
    fn regexes_search_the_target() {
        let t = json!({"type": "regex", "target": "body", "pattern": "^up( and running)?$"});
        assert!(met(
            t.clone(),
            json!({"status": 200, "body": "up and running"})
        ));
        assert!(!met(t, json!({"status": 200, "body": "down"})));
        assert!(met(
            json!({"type": "regex", "pattern": "b+"}),
            json!("abbbc")
        ));
        assert!(!met(
            json!({"type": "regex", "pattern": "b+"}),
            json!({"no": "target"})
        ));
    }

    #[test]
    fn jsonpath_with_expect_and_count() {
        let out = json!({"status": 200, "body": {"items": [{"ok": true}, {"ok": true}]}});
        let t = |extra: Value| {
            let mut t = json!({"type": "jsonpath", "target": "body", "path": "$.items[*].ok"});
            t.as_object_mut()
                .expect("map")
                .extend(extra.as_object().expect("map").clone());
            t
        };
        assert!(met(t(json!({})), out.clone()));
        assert!(met(t(json!({"count": 2})), out.clone()));
        assert!(!met(t(json!({"count": 3})), out.clone()));
        assert!(met(t(json!({"expect": [true, true]})), out.clone()));
        assert!(
            !met(t(json!({"expect": true})), out.clone()),
            "two values are not [true]"
        );
        // JSON text in a string output is read as JSON.
        let text = json!({"status": 0, "stdout": "{\"state\": \"green\"}"});
        let green =
            json!({"type": "jsonpath", "target": "stdout", "path": "$.state", "expect": "green"});
        assert!(met(green, text));
    }

    #[test]
    fn checks_name_the_field() {
        let e = check(&json!({"type": "range", "range": [1]}), "p.tolerance").expect_err("bad");
        assert_eq!(e.path, "p.tolerance.range");
        let e = check(&json!({"type": "nope"}), "p.tolerance").expect_err("bad");
        assert_eq!(e.path, "p.tolerance.type");
        let e = check(&json!({"type": "regex", "pattern": "("}), "t").expect_err("bad");
        assert_eq!(e.path, "t.pattern");
        assert!(check(&json!(null), "t").is_err());
        assert!(check(&json!(1.5), "t").is_err());
        assert!(check(&json!([1, 2]), "t").is_ok());
    }

    #[test]
    fn string_tolerances_are_substituted() {
        let experiment = json!({"configuration": {"expected": "v2"}});
        let vars = Vars::load(&experiment, &|_| None).expect("vars");
        assert!(within(&json!("${expected}"), &json!("v2"), &vars));
        let t = json!({"type": "regex", "pattern": "^${expected}$"});
        assert!(within(&t, &json!("v2"), &vars));
    }
}

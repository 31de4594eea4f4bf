//! The JSONPath subset Chaos Toolkit's `jsonpath` tolerances use in practice: `$`,
//! `.name`, `['name']` and `["name"]`, `[N]` (negative from the end), `[*]` and `.*`, and
//! `..name` (recursive descent). Filters (`[?(...)]`) and slices are refused with a clear
//! error: no JSONPath crate is among the project's chosen crates, and these forms are the
//! ones chaostoolkit-lib's `jsonpath2` evaluates the same way.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Descend(String),
    DescendWildcard,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    /// Parses `$.a.b[0]`; the error says what is not supported or wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let mut rest = text
            .strip_prefix('$')
            .ok_or_else(|| format!("{text:?} must start with `$`, the document's root"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("..") {
                if let Some(after) = after.strip_prefix('*') {
                    steps.push(Step::DescendWildcard);
                    rest = after;
                } else {
                    let len = name_len(after);
                    if len == 0 {
                        return Err(format!("{text:?}: `..` must be followed by a name or `*`"));
                    }
                    steps.push(Step::Descend(after[..len].to_owned()));
                    rest = &after[len..];
                }
            } else if let Some(after) = rest.strip_prefix('.') {
                if let Some(after) = after.strip_prefix('*') {
                    steps.push(Step::Wildcard);
                    rest = after;
                } else {
                    let len = name_len(after);
                    if len == 0 {
                        return Err(format!("{text:?}: `.` must be followed by a name or `*`"));
                    }
                    steps.push(Step::Field(after[..len].to_owned()));
                    rest = &after[len..];
                }
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after
                    .find(']')
                    .ok_or_else(|| format!("{text:?}: a `[` is not closed"))?;
                let inner = after[..end].trim();
                rest = &after[end + 1..];
                if inner == "*" {
                    steps.push(Step::Wildcard);
                } else if let Some(q) = quoted(inner) {
                    steps.push(Step::Field(q.to_owned()));
                } else if let Ok(i) = inner.parse::<i64>() {
                    steps.push(Step::Index(i));
                } else if inner.starts_with('?') {
                    return Err(format!(
                        "{text:?}: filters ([?(...)]) are not supported by chaosday's JSONPath; select with names, indexes, [*] and .., and compare with `expect`"
                    ));
                } else {
                    return Err(format!(
                        "{text:?}: [{inner}] is not supported: use ['name'], [N] or [*]"
                    ));
                }
            } else {
                return Err(format!(
                    "{text:?}: unexpected {:?}; a step is .name, ['name'], [N], [*] or ..name",
                    rest.chars().next().unwrap_or_default()
                ));
            }
        }
        Ok(JsonPath(steps))
    }

    /// The values the path selects in `doc`, in document order.
    pub fn select<'a>(&self, doc: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![doc];
        for step in &self.0 {
            let mut next = Vec::new();
            for value in current {
                match step {
                    Step::Field(name) => next.extend(value.get(name.as_str())),
                    Step::Index(i) => {
                        if let Value::Array(items) = value {
                            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                            let at = if *i < 0 { len + i } else { *i };
                            if let Ok(at) = usize::try_from(at) {
                                next.extend(items.get(at));
                            }
                        }
                    }
                    Step::Wildcard => children(value, &mut next),
                    Step::Descend(name) => descend(value, &mut |v| {
                        if let Some(found) = v.get(name.as_str())
                            && v.is_object()
                        {
                            next.push(found);
                        }
                    }),
                    Step::DescendWildcard => descend(value, &mut |v| children(v, &mut next)),
                }
            }
            current = next;
        }
        current
    }
}

fn children<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => out.extend(items.iter()),
        Value::Object(map) => out.extend(map.values()),
        _ => {}
    }
}

/// Calls `f` on `value` and every value inside it, depth first.
fn descend<'a>(value: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    f(value);
    match value {
        Value::Array(items) => items.iter().for_each(|v| descend(v, f)),
        Value::Object(map) => map.values().for_each(|v| descend(v, f)),
        _ => {}
    }
}

fn name_len(s: &str) -> usize {
    s.find(['.', '[']).unwrap_or(s.len())
}

fn quoted(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_as_jsonpath2_does() {
        // The same document and paths were run through chaostoolkit-lib's jsonpath2 0.4.5.
        let doc = json!({"a": {"b": [{"x": 1, "n": "p"}, {"x": 2, "n": "q"}]}, "s": "v"});
        let select = |p: &str| -> Vec<Value> {
            JsonPath::parse(p)
                .expect(p)
                .select(&doc)
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(select("$.a.b[*].x"), [json!(1), json!(2)]);
        assert_eq!(select("$.s"), [json!("v")]);
        assert_eq!(select("$[\"s\"]"), [json!("v")]);
        assert_eq!(select("$['s']"), [json!("v")]);
        assert_eq!(select("$..x"), [json!(1), json!(2)]);
        assert_eq!(select("$.a.b[0].n"), [json!("p")]);
        assert_eq!(select("$.a.b[-1].x"), [json!(2)]);
        assert_eq!(select("$.nope"), Vec::<Value>::new());
        assert_eq!(select("$").len(), 1);
    }

    #[test]
    fn unsupported_forms_say_so() {
        let e = JsonPath::parse("$.a[?(@.x > 1)]").expect_err("filter");
        assert!(e.contains("filters"), "{e}");
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
        assert!(JsonPath::parse("$.a[1:2]").is_err());
    }
}

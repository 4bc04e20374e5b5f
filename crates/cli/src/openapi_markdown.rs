//! `partnerhub openapi --markdown`: the API reference rendered from the OpenAPI document the
//! server serves, so that the reference in docs/ cannot drift from the code (a test
//! regenerates docs/api-reference.md and compares). Operations by tag, then every schema.

use serde_json::{Map, Value};
use std::fmt::Write;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The whole reference, ending with a newline.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    let _ = writeln!(out, "# {title} HTTP API reference ({version})\n");
    out.push_str(
        "Generated from the OpenAPI document the server serves (`GET /api/openapi.json`) by\n\
         `partnerhub openapi --markdown`: do not edit it by hand. After changing a route or a type, regenerate it with\n\n\
         ```sh\ncargo run -q -p partnerhub -- openapi --markdown > docs/api-reference.md\n```\n\n\
         (a test fails while this file differs from the output). The contract, in prose, is\n\
         [API.md](API.md), which ends with where the server goes beyond it.\n\n",
    );
    if let Some(d) = doc["info"]["description"].as_str() {
        let _ = writeln!(out, "> {}\n", one_line(d));
    }

    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let mut tags: Vec<String> =
        doc["tags"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect();
    // Tags used by an operation but not declared still get their section.
    for op in operations(&paths) {
        if !tags.contains(&op.tag) {
            tags.push(op.tag.clone());
        }
    }

    out.push_str("## Contents\n\n");
    for tag in &tags {
        let _ = writeln!(out, "- [{tag}](#{})", anchor(tag));
    }
    out.push_str("- [Schemas](#schemas)\n\n");

    for tag in &tags {
        let _ = writeln!(out, "## {tag}\n");
        for op in operations(&paths).into_iter().filter(|o| &o.tag == tag) {
            operation(&mut out, &op, &schemas);
        }
    }

    out.push_str("## Schemas\n\n");
    for (name, schema) in &schemas {
        schema_section(&mut out, name, schema, &schemas);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

struct Operation {
    method: &'static str,
    path: String,
    tag: String,
    op: Value,
}

fn operations(paths: &Map<String, Value>) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
                ops.push(Operation { method, path: path.clone(), tag, op: op.clone() });
            }
        }
    }
    ops
}

fn operation(out: &mut String, o: &Operation, schemas: &Map<String, Value>) {
    let op = &o.op;
    let _ = writeln!(out, "### `{} {}`\n", o.method.to_uppercase(), o.path);
    for key in ["summary", "description"] {
        if let Some(t) = op[key].as_str().filter(|t| !t.is_empty()) {
            let _ = writeln!(out, "{}\n", t.trim());
        }
    }
    let auth = match op["security"].as_array() {
        Some(s) if !s.is_empty() => {
            let schemes: Vec<&str> = s.iter().filter_map(|r| r.as_object()).flat_map(|r| r.keys().map(String::as_str)).collect();
            match schemes.as_slice() {
                ["bearer"] => "`Authorization: Bearer TOKEN`".to_owned(),
                _ => format!("bearer token ({})", schemes.join(", ")),
            }
        }
        _ => "none".into(),
    };
    let _ = writeln!(out, "Authentication: {auth}.\n");

    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("| parameter | in | type | required | description |\n|---|---|---|---|---|\n");
        for p in params {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                p["name"].as_str().unwrap_or("?"),
                p["in"].as_str().unwrap_or("?"),
                type_in(&p["schema"], schemas),
                if p["required"].as_bool().unwrap_or(false) { "yes" } else { "no" },
                cell(p["description"].as_str().unwrap_or("")),
            );
        }
        out.push('\n');
    }

    if let Some(body) = op.get("requestBody") {
        for (media, content) in body["content"].as_object().into_iter().flatten() {
            let required = if body["required"].as_bool().unwrap_or(false) { "required" } else { "optional" };
            let _ = writeln!(out, "Request body ({media}, {required}): {}\n", type_in(&content["schema"], schemas));
        }
    }

    if let Some(responses) = op["responses"].as_object() {
        out.push_str("| status | body | description |\n|---|---|---|\n");
        for (status, r) in responses {
            let bodies: Vec<String> = r["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(media, c)| match c.get("schema") {
                    Some(s) => format!("{} ({media})", type_in(s, schemas)),
                    None => media.clone(),
                })
                .collect();
            let body = if bodies.is_empty() { "none".to_owned() } else { bodies.join("; ") };
            let _ = writeln!(out, "| {status} | {body} | {} |", cell(r["description"].as_str().unwrap_or("")));
        }
        out.push('\n');
    }
}

fn schema_section(out: &mut String, name: &str, schema: &Value, schemas: &Map<String, Value>) {
    let _ = writeln!(out, "### {name}\n");
    if let Some(d) = schema["description"].as_str().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    match schema["properties"].as_object() {
        Some(props) => {
            let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            out.push_str("| field | type | required | description |\n|---|---|---|---|\n");
            for (field, s) in props {
                let _ = writeln!(
                    out,
                    "| `{field}` | {} | {} | {} |",
                    type_in(s, schemas),
                    if required.contains(&field.as_str()) { "yes" } else { "no" },
                    cell(description(s)),
                );
            }
            out.push('\n');
        }
        None => {
            let _ = writeln!(out, "{}\n", type_in(schema, schemas));
        }
    }
}

/// A schema as a short type expression, schemas named by links, an inline object by the
/// schema it repeats (a generic's parameter).
fn type_in(s: &Value, schemas: &Map<String, Value>) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[`{name}`](#{})", anchor(name));
    }
    for (key, sep) in [("oneOf", " \\| "), ("anyOf", " \\| "), ("allOf", " & ")] {
        if let Some(parts) = s[key].as_array() {
            return parts.iter().map(|p| type_in(p, schemas)).collect::<Vec<_>>().join(sep);
        }
    }
    if let Some(values) = s["enum"].as_array() {
        return format!(
            "one of {}",
            values.iter().map(|v| format!("`{}`", v.as_str().map_or(v.to_string(), str::to_owned))).collect::<Vec<_>>().join(", ")
        );
    }
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.is_empty() {
        return "any".into();
    }
    types
        .iter()
        .map(|t| match *t {
            "array" => format!("array of {}", type_in(&s["items"], schemas)),
            "object" => match (s.get("additionalProperties"), s.get("properties")) {
                (Some(Value::Object(_)), _) => format!("map of {}", type_in(&s["additionalProperties"], schemas)),
                (_, Some(props)) => {
                    match schemas.iter().find(|(_, c)| c.get("properties") == Some(props) && c.get("required") == s.get("required")) {
                        Some((name, _)) => format!("[`{name}`](#{})", anchor(name)),
                        None => "object".into(),
                    }
                }
                _ => "object".into(),
            },
            "null" => "null".into(),
            other => {
                let mut t = other.to_owned();
                if let Some(f) = s["format"].as_str() {
                    let _ = write!(t, " ({f})");
                }
                if let Some(min) = s["minimum"].as_f64() {
                    let _ = write!(t, ", ≥ {min}");
                }
                t
            }
        })
        .collect::<Vec<_>>()
        .join(" \\| ")
}

/// A field's description, also where utoipa puts it beside the schema of a nullable one.
fn description(s: &Value) -> &str {
    s["description"].as_str().or_else(|| s["oneOf"].as_array().into_iter().flatten().find_map(|p| p["description"].as_str())).unwrap_or("")
}

/// GitHub's heading anchor: lower case, spaces to dashes, other punctuation dropped.
fn anchor(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text fit for a table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn type_of(s: &Value) -> String {
        type_in(s, &Map::new())
    }

    #[test]
    fn types_read_as_a_person_writes_them() {
        assert_eq!(type_of(&json!({"type": ["integer", "null"], "format": "int64"})), "integer (int64) \\| null");
        assert_eq!(
            type_of(&json!({"type": "array", "items": {"$ref": "#/components/schemas/Grant_Response"}})),
            "array of [`Grant_Response`](#grant_response)"
        );
        assert_eq!(type_of(&json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/X"}]})), "null \\| [`X`](#x)");
        assert_eq!(type_of(&json!({"type": "string", "enum": ["a", "b"]})), "one of `a`, `b`");
        assert_eq!(type_of(&json!({"type": "object", "additionalProperties": {"type": "string"}})), "map of string");
    }

    #[test]
    fn an_operation_shows_its_parameters_body_and_statuses() {
        let doc = json!({
            "info": {"title": "t", "version": "1"},
            "tags": [{"name": "things"}],
            "paths": {"/things/{id}": {"post": {
                "tags": ["things"], "summary": "Do a thing.", "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "responses": {"201": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                              "403": {"description": "a | b"}}
            }}},
            "components": {"schemas": {"Thing": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "description": "Its name."}}}}}
        });
        let md = render(&doc);
        assert!(md.contains("### `POST /things/{id}`\n\nDo a thing.\n\nAuthentication: `Authorization: Bearer TOKEN`."), "{md}");
        assert!(md.contains("| `id` | path | string (uuid) | yes |  |"), "{md}");
        assert!(md.contains("Request body (application/json, required): [`Thing`](#thing)"), "{md}");
        assert!(md.contains("| 201 | [`Thing`](#thing) (application/json) |  |\n| 403 | none | a \\| b |"), "{md}");
        assert!(
            md.contains("### Thing\n\n| field | type | required | description |\n|---|---|---|---|\n| `name` | string | yes | Its name. |"),
            "{md}"
        );
        assert!(md.ends_with("|\n"), "{md}");
    }
}

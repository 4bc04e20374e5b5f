pub fn render(_doc: &serde_json::Value) -> String { String::new() }

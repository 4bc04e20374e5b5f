//! A small HTML reader for the portal crawl, enough for pages we render ourselves: tags,
//! text nodes, what a reader sees, links and forms.

pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A start tag: its name (lower case) and attributes (decoded).
#[derive(Debug, Clone)]
pub struct Tag {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub closing: bool,
}

impl Tag {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    Tag(Tag),
    Text(String),
}

fn parse_tag(inner: &str) -> Tag {
    let closing = inner.starts_with('/');
    let inner = inner.trim_start_matches('/').trim_end_matches('/');
    let name_end = inner.find(|c: char| c.is_whitespace()).unwrap_or(inner.len());
    let name = inner[..name_end].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut rest = inner[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            if let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &r[1..];
                let end = body.find(q).unwrap_or(body.len());
                value = decode_entities(&body[..end]);
                rest = body.get(end + 1..).unwrap_or_default().trim_start();
            } else {
                let end = r.find(char::is_whitespace).unwrap_or(r.len());
                value = decode_entities(&r[..end]);
                rest = r[end..].trim_start();
            }
        }
        if !key.is_empty() {
            attrs.push((key, value));
        }
    }
    Tag { name, attrs, closing }
}

/// Tags and text nodes, in order; comments, scripts and styles left out.
pub fn nodes(html: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        match rest.find('<') {
            None => {
                out.push(Node::Text(decode_entities(rest)));
                break;
            }
            Some(i) => {
                if i > 0 {
                    out.push(Node::Text(decode_entities(&rest[..i])));
                }
                rest = &rest[i..];
                if let Some(r) = rest.strip_prefix("<!--") {
                    rest = r.find("-->").map(|e| &r[e + 3..]).unwrap_or("");
                    continue;
                }
                // The end of the tag, outside quotes.
                let mut quote = None;
                let mut end = rest.len();
                for (j, c) in rest.char_indices().skip(1) {
                    match (quote, c) {
                        (None, '"' | '\'') => quote = Some(c),
                        (Some(q), c) if c == q => quote = None,
                        (None, '>') => {
                            end = j;
                            break;
                        }
                        _ => {}
                    }
                }
                let tag = parse_tag(&rest[1..end]);
                rest = rest.get(end + 1..).unwrap_or("");
                if !tag.closing && (tag.name == "script" || tag.name == "style") {
                    let close = format!("</{}", tag.name);
                    rest = rest.to_ascii_lowercase().find(&close).map(|e| &rest[e..]).unwrap_or("");
                }
                out.push(Node::Tag(tag));
            }
        }
    }
    out
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a reader sees: text nodes, and the texts attributes show (title, labels, placeholders,
/// button values, alt), each whitespace-squeezed; the language switch left out (a link, or a
/// form's button when signed in: it names the other language in that language, on purpose).
pub fn visible_texts(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_switch = false;
    for n in nodes(html) {
        match n {
            Node::Tag(t) => {
                if t.name == "a" && !t.closing {
                    in_switch = t.attr("href").is_some_and(|h| h.starts_with("/lang/"));
                } else if t.name == "form" && !t.closing {
                    in_switch = t.attr("action").is_some_and(|h| h.starts_with("/lang/"));
                } else if t.name == "a" || t.name == "form" {
                    in_switch = false;
                }
                for a in ["title", "placeholder", "aria-label", "alt"] {
                    if let Some(v) = t.attr(a) {
                        out.push(squeeze(v));
                    }
                }
                if t.name == "input" && matches!(t.attr("type"), Some("submit" | "button")) {
                    out.push(squeeze(t.attr("value").unwrap_or_default()));
                }
            }
            Node::Text(s) if !in_switch => out.push(squeeze(&s)),
            Node::Text(_) => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

pub fn html_lang(html: &str) -> Option<String> {
    nodes(html).into_iter().find_map(|n| match n {
        Node::Tag(t) if t.name == "html" && !t.closing => Some(t.attr("lang").unwrap_or_default().to_owned()),
        _ => None,
    })
}

/// Same-site links (`href` starting with one `/`), without their fragment.
pub fn links(html: &str) -> Vec<String> {
    nodes(html)
        .into_iter()
        .filter_map(|n| match n {
            Node::Tag(t) if t.name == "a" && !t.closing => t.attr("href").map(str::to_owned),
            _ => None,
        })
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(|h| h.split('#').next().unwrap_or_default().to_owned())
        .collect()
}

/// A form of the page: where it posts and the fields it would send.
#[derive(Debug, Clone)]
pub struct FormFound {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

pub fn post_forms(html: &str, page_path: &str) -> Vec<FormFound> {
    let mut out = Vec::new();
    let mut current: Option<FormFound> = None;
    let mut select: Option<String> = None;
    for n in nodes(html) {
        let Node::Tag(t) = n else { continue };
        match (t.name.as_str(), t.closing) {
            ("form", false) => {
                let post = t.attr("method").is_some_and(|m| m.eq_ignore_ascii_case("post"));
                let action = t.attr("action").filter(|a| !a.is_empty()).unwrap_or(page_path).to_owned();
                current = post.then_some(FormFound { action, fields: Vec::new() });
            }
            ("form", true) => out.extend(current.take()),
            ("input", false) => {
                if let (Some(f), Some(name)) = (current.as_mut(), t.attr("name")) {
                    let kind = t.attr("type").unwrap_or("text");
                    if matches!(kind, "checkbox" | "radio") && t.attr("checked").is_none() {
                        continue;
                    }
                    let value = t.attr("value").map(str::to_owned).unwrap_or_else(|| match kind {
                        "email" => "someone@example.com".to_owned(),
                        "number" => "1".to_owned(),
                        _ => "x".to_owned(),
                    });
                    f.fields.push((name.to_owned(), value));
                }
            }
            ("textarea", false) => {
                if let (Some(f), Some(name)) = (current.as_mut(), t.attr("name")) {
                    f.fields.push((name.to_owned(), "x".to_owned()));
                }
            }
            ("select", false) => select = t.attr("name").map(str::to_owned),
            ("select", true) => select = None,
            ("option", false) => {
                if let (Some(f), Some(name)) = (current.as_mut(), select.take()) {
                    f.fields.push((name, t.attr("value").unwrap_or_default().to_owned()));
                }
            }
            _ => {}
        }
    }
    out
}

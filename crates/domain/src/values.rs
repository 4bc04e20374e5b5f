//! Validated values, parsed once at the edge so the rest of the code can trust them.

use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

fn clean(field: &str, s: &str, min: usize, max: usize) -> Result<String, ValidationErrors> {
    let t = s.trim();
    let n = t.chars().count();
    if n < min || n > max {
        return Err(ValidationErrors::one(field, format!("must be {min} to {max} characters")));
    }
    if t.chars().any(is_hidden_control) {
        return Err(ValidationErrors::one(field, "must not contain control, bidirectional, zero-width or line-separator characters"));
    }
    Ok(t.to_owned())
}

/// Characters that change how text around them reads without being seen: C0/C1 controls,
/// bidirectional overrides and isolates (a name rendered backwards, "Trojan Source"),
/// zero-width characters (two names that look the same), line and paragraph separators
/// (a forged second line in a list or a log). Names and other shown text refuse them.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                    // soft hyphen
            | '\u{061C}'                  // Arabic letter mark
            | '\u{180E}'                  // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'     // zero-width space, (non-)joiner, LRM, RLM
            | '\u{2028}' | '\u{2029}'     // line and paragraph separators
            | '\u{202A}'..='\u{202E}'     // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}'     // bidi isolates, deprecated format characters
            | '\u{FEFF}'                  // zero-width no-break space (BOM)
            | '\u{FFF9}'..='\u{FFFB}') // interlinear annotations
}

/// An e-mail address, lower-cased so that uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// Trimmed and lower-cased; refused unless plausible: ASCII, one `@`, a local part of at
    /// most 64 characters from RFC 5322's atoms (no leading, trailing or doubled dot), and a
    /// domain name whose last label is letters.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationErrors> {
        let s = clean(field, s, 3, 254)?.to_lowercase();
        let bad = || ValidationErrors::one(field, "is not an e-mail address");
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
        if local.is_empty()
            || local.len() > 64
            || !local.chars().all(atom)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(bad());
        }
        DomainName::parse(field, domain).map_err(|_| bad())?;
        let tld = domain.rsplit('.').next().unwrap_or_default();
        if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(bad());
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A DNS domain name such as `contoso.example`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationErrors> {
        let s = clean(field, s, 3, 253)?.to_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !s.contains('.') || !s.split('.').all(label_ok) {
            return Err(ValidationErrors::one(field, "is not a domain name"));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name shown to people: an organization's or a user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationErrors> {
        Ok(Self(clean(field, s, 1, 200)?))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. 12 to 1024 characters (ASVS 6.2: long passphrases allowed, no
/// composition rules); never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationErrors> {
        let n = s.chars().count();
        if !(12..=1024).contains(&n) {
            return Err(ValidationErrors::one(field, "must be 12 to 1024 characters"));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The short public id a partner is known by (like an MPN id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPublicId(String);

impl PartnerPublicId {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationErrors> {
        let s = clean(field, s, 1, 32)?;
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ValidationErrors::one(field, "letters, digits and '-' only"));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerType {
    Direct,
    IndirectProvider,
    IndirectReseller,
}

impl PartnerType {
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerType::Direct => "direct",
            PartnerType::IndirectProvider => "indirect_provider",
            PartnerType::IndirectReseller => "indirect_reseller",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Direct, Self::IndirectProvider, Self::IndirectReseller].into_iter().find(|t| t.as_str() == s)
    }
}

/// The language of an invitation's e-mail draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    #[default]
    En,
    Fr,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Locale::En),
            "fr" => Some(Locale::Fr),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(Email::parse("e", " Ada@Fabrikam.Example ").map(|e| e.0).ok().as_deref(), Some("ada@fabrikam.example"));
        for bad in [
            "",
            "ada",
            "@x.example",
            "a@b",
            "a b@x.example",
            "a@@x.example",
            ".a@x.example",
            "a..b@x.example",
            "a@x.e1",
            "\"a\"@x.example",
            "é@x.example",
        ] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_refuse_what_would_change_how_they_read() {
        for bad in ["Fabrikam\u{202E}moc.evil", "Con\u{200B}toso", "Line\u{2028}break", "Iso\u{2066}late", "Bom\u{FEFF}", "Tab\there"] {
            assert!(DisplayName::parse("n", bad).is_err(), "{bad:?}");
        }
        assert!(DisplayName::parse("n", "Société Générale — Zoë & Ω").is_ok());
    }

    #[test]
    fn domains_are_checked() {
        assert!(DomainName::parse("d", "contoso.example").is_ok());
        for bad in ["contoso", "-a.example", "a..example", "a_b.example"] {
            assert!(DomainName::parse("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_redacted_in_debug() {
        let p = Password::parse("p", "correct horse battery").map(|p| format!("{p:?}"));
        assert_eq!(p.ok().as_deref(), Some("Password(<redacted>)"));
    }
}

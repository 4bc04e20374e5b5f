//! Aligned plain-text tables for the `admin` commands: a header row, then one row per item,
//! each column as wide as its widest cell.

/// Renders `rows` under `header`, columns separated by two spaces, no trailing blanks.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cells = |r: &[String]| r.iter().map(|c| printable(c)).collect::<Vec<_>>();
    let all: Vec<Vec<String>> =
        std::iter::once(header.iter().map(|h| (*h).to_owned()).collect()).chain(rows.iter().map(|r| cells(r))).collect();
    let mut widths = vec![0; header.len()];
    for row in &all {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &all {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Names come from the server; a control character in one must not steer the terminal.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// `600` cents in `EUR` as `6.00 EUR`.
pub fn price(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", c / 100, c % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let t = render(&["ID", "NAME"], &[vec!["1".into(), "Mail Basic".into()], vec!["22".into(), "Café".into()]]);
        assert_eq!(t, "ID  NAME\n1   Mail Basic\n22  Café\n");
    }

    #[test]
    fn control_characters_are_not_printed() {
        assert_eq!(render(&["N"], &[vec!["a\u{1b}[31mb".into()]]), "N\na?[31mb\n");
    }

    #[test]
    fn prices_show_their_cents() {
        assert_eq!(price(600, "EUR"), "6.00 EUR");
        assert_eq!(price(1005, "USD"), "10.05 USD");
        assert_eq!(price(0, "EUR"), "0.00 EUR");
    }
}

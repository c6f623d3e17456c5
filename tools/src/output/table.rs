//! `-w table` for the endpoint commands, drawn like the Go `tablewriter`
//! etcdctl uses: upper-case centred headers, right-aligned cells, one space
//! of padding, `+---+` rules above and below the header and at the end.

use std::io::{self, Write};

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Draws `rows` under `header` (titles are upper-cased).
pub fn render(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let titles: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
    let mut widths: Vec<usize> = titles.iter().map(|t| width(t)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let rule: String = widths.iter().fold(String::from("+"), |mut line, w| {
        line.push_str(&"-".repeat(w + 2));
        line.push('+');
        line
    });
    writeln!(out, "{rule}")?;
    let mut line = String::from("|");
    for (title, w) in titles.iter().zip(&widths) {
        let gap = w - width(title);
        let left = gap / 2;
        line.push_str(&format!(
            " {}{title}{} |",
            " ".repeat(left),
            " ".repeat(gap - left)
        ));
    }
    writeln!(out, "{line}")?;
    writeln!(out, "{rule}")?;
    for row in rows {
        let mut line = String::from("|");
        for (i, w) in widths.iter().enumerate() {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            line.push_str(&format!(" {}{cell} |", " ".repeat(w - width(cell))));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{rule}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_like_tablewriter() {
        let mut out = Vec::new();
        render(
            &mut out,
            &["endpoint", "health", "took", "error"],
            &[vec![
                "127.0.0.1:2379".into(),
                "true".into(),
                "1.5µs".into(),
                String::new(),
            ]],
        )
        .expect("renders");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "+----------------+--------+-------+-------+\n\
             |    ENDPOINT    | HEALTH | TOOK  | ERROR |\n\
             +----------------+--------+-------+-------+\n\
             | 127.0.0.1:2379 |   true | 1.5µs |       |\n\
             +----------------+--------+-------+-------+\n"
        );
    }
}

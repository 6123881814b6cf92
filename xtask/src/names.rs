//! Rust names from Apple's key names.

/// Splits `iTunesStoreAccountHash` into `i Tunes Store Account Hash`, `MDMOptions` into
/// `MDM Options`, `FDE_Enabled` into `FDE Enabled`. Digits stay with the word before.
pub fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "typeof", "unsized", "virtual", "yield", "try", "gen", "extra",
];

/// `snake_case`, never a keyword, never starting with a digit.
pub fn snake(key: &str) -> String {
    let mut s = words(key)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if s.is_empty() {
        s = "field".to_owned();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'n');
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// `PascalCase` with acronyms as words (`MDMOptions` gives `MdmOptions`).
pub fn pascal(key: &str) -> String {
    let mut s: String = words(key)
        .iter()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect();
    if s.is_empty() {
        s = "Value".to_owned();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'V');
    }
    s
}

/// A type name exactly as Apple spells it, with only letters and digits kept.
pub fn exact(key: &str) -> String {
    let s: String = key.chars().filter(char::is_ascii_alphanumeric).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("V{s}")
    } else {
        s
    }
}

/// A Rust string literal.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// Doc-comment lines from YAML prose, safe for rustdoc: one paragraph per line, no
/// indentation (which would make a doctest), brackets and angle brackets escaped, URLs
/// made into autolinks.
pub fn doc(indent: &str, text: &str) -> String {
    let mut out = String::new();
    let mut first = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !first {
            out.push_str(indent);
            out.push_str("///\n");
        }
        first = false;
        out.push_str(indent);
        out.push_str("/// ");
        out.push_str(&escape(line));
        out.push('\n');
    }
    out
}

/// Escapes text for a generated doc comment.
pub fn escape(line: &str) -> String {
    let mut s = String::new();
    let mut rest = line;
    let mut at_start = true;
    while !rest.is_empty() {
        if let Some(pos) = rest.find("http://").or_else(|| rest.find("https://")) {
            s.push_str(&escape_plain(&rest[..pos], at_start));
            let url_end = rest[pos..]
                .find(|c: char| c.is_whitespace() || c == ')' || c == '\'' || c == '"')
                .map_or(rest.len(), |e| pos + e);
            let mut url = &rest[pos..url_end];
            let mut tail = "";
            while url.ends_with(['.', ',', ';', ':']) {
                tail = &rest[pos + url.len() - 1..url_end];
                url = &url[..url.len() - 1];
            }
            s.push('<');
            s.push_str(url);
            s.push('>');
            s.push_str(tail);
            rest = &rest[url_end..];
        } else {
            s.push_str(&escape_plain(rest, at_start));
            rest = "";
        }
        at_start = false;
    }
    s
}

fn escape_plain(text: &str, at_start: bool) -> String {
    let mut s = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        // A list item stays a list item: every doc line is its own paragraph, so no
        // lazy continuation can follow it.
        if at_start && i == 0 && matches!(c, '*' | '-') && text[1..].starts_with(' ') {
            s.push('-');
            continue;
        }
        match c {
            '[' => s.push_str("\\["),
            ']' => s.push_str("\\]"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '`' => s.push('\''),
            '*' | '_' | '#' | '|' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '-' | '+' if at_start && i == 0 => {
                s.push('\\');
                s.push(c);
            }
            _ => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            snake("iTunesStoreAccountHash"),
            "i_tunes_store_account_hash"
        );
        assert_eq!(snake("MDMOptions"), "mdm_options");
        assert_eq!(snake("FDE_Enabled"), "fde_enabled");
        assert_eq!(snake("UDID"), "udid");
        assert_eq!(snake("Type"), "type_");
        assert_eq!(pascal("OSUpdateSettings"), "OsUpdateSettings");
        assert_eq!(pascal("ANY app identifier"), "AnyAppIdentifier");
        assert_eq!(exact("LOMDeviceRequest"), "LOMDeviceRequest");
    }
}

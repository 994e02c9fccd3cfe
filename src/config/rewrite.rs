//! CONFIG REWRITE's edit of the YAML file: one `section.key: value` set in place, the rest of
//! the file (comments, order, other keys) kept byte for byte. Block style only: a section
//! written in flow style (`cache: {max_memory: 1GB}`) is refused rather than reformatted.

/// `text` with `path` (`section.key`) set to `value` (YAML scalar text, already quoted if it
/// needs to be). A key that is there keeps its line and its comment; one that is not goes
/// first in its section; a section that is not there is added at the end.
pub fn set_scalar(text: &str, path: &str, value: &str) -> Result<String, String> {
    let (section, key) = path
        .split_once('.')
        .ok_or_else(|| format!("{path}: not a section.key path"))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_top = |l: &str| !l.starts_with([' ', '\t', '#', '\n', '\r']) && !l.trim().is_empty();
    let Some(start) = lines.iter().position(|l| {
        is_top(l)
            && l.trim_end().split('#').next().unwrap_or("").trim_end() == format!("{section}:")
    }) else {
        if lines
            .iter()
            .any(|l| is_top(l) && l.starts_with(&format!("{section}:")))
        {
            return Err(format!(
                "{section}: written in flow style; set {path} by hand"
            ));
        }
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{section}:\n  {key}: {value}\n"));
        return Ok(out);
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_top(l))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut indent = None;
    for (i, l) in lines.iter().enumerate().take(end).skip(start + 1) {
        let body = l.trim_start_matches(' ');
        let pad = l.len() - body.len();
        if body.trim().is_empty() || body.starts_with('#') {
            continue;
        }
        indent.get_or_insert(pad);
        if Some(pad) != indent {
            continue;
        }
        if let Some(rest) = body.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let trimmed = rest.trim_start();
            let no_value = trimmed.is_empty() || trimmed.starts_with('#');
            let nested = no_value
                && lines[i + 1..end]
                    .iter()
                    .find(|n| !n.trim().is_empty())
                    .is_some_and(|n| n.len() - n.trim_start_matches(' ').len() > pad);
            if trimmed.starts_with(['{', '[', '|', '>']) || nested {
                return Err(format!(
                    "{path}: not a plain value in the file; set it by hand"
                ));
            }
            // Keep a trailing comment (after whitespace, outside quotes).
            let comment = trailing_comment(rest);
            let eol = if l.ends_with("\r\n") {
                "\r\n"
            } else if l.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            let mut out: String = lines[..i].concat();
            out.push_str(&format!("{}{key}: {value}", " ".repeat(pad)));
            if let Some(c) = comment {
                out.push_str("   ");
                out.push_str(c);
            }
            out.push_str(eol);
            out.push_str(&lines[i + 1..].concat());
            return Ok(out);
        }
    }
    let pad = indent.unwrap_or(2);
    let mut out: String = lines[..=start].concat();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{}{key}: {value}\n", " ".repeat(pad)));
    out.push_str(&lines[start + 1..].concat());
    Ok(out)
}

/// The `# ...` at the end of a value, if any (a `#` inside quotes is part of the value).
fn trailing_comment(rest: &str) -> Option<&str> {
    let mut quote = None;
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), c) if c == q => quote = None,
            (None, b'#') if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => {
                return Some(rest[i..].trim_end());
            }
            _ => {}
        }
    }
    None
}

/// A value as a YAML scalar: plain when it reads back as the same text, else double-quoted.
/// (The reader takes every scalar as text, so `false` may stay plain; `null` may not: it
/// would unset the key.)
pub fn scalar(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
        && !matches!(v.to_ascii_lowercase().as_str(), "null" | "~");
    if plain {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my node\nnode:\n  id: n1\n\ncache:\n  max_memory: 1GB      # the limit\n  # eviction_policy: lfu\n  maxclients: 100\nlogging:\n  level: info\n";

    #[test]
    fn a_key_there_keeps_its_line_and_comment() {
        let out = set_scalar(FILE, "cache.max_memory", "2147483648").unwrap();
        assert_eq!(
            out,
            FILE.replace(
                "  max_memory: 1GB      # the limit",
                "  max_memory: 2147483648   # the limit"
            )
        );
        let out = set_scalar(FILE, "cache.maxclients", "7").unwrap();
        assert!(out.contains("  maxclients: 7\nlogging:"), "{out}");
        // A commented-out key is not the key.
        let out = set_scalar(FILE, "cache.eviction_policy", "allkeys-lru").unwrap();
        assert!(
            out.contains("cache:\n  eviction_policy: allkeys-lru\n  max_memory: 1GB"),
            "{out}"
        );
        assert!(out.contains("  # eviction_policy: lfu\n"));
    }

    #[test]
    fn a_missing_section_is_added_and_flow_style_refused() {
        let out = set_scalar(FILE, "security.protected_mode", "false").unwrap();
        assert!(
            out.ends_with("  level: info\nsecurity:\n  protected_mode: false\n"),
            "{out}"
        );
        let out = set_scalar("", "cache.hz", "10").unwrap();
        assert_eq!(out, "cache:\n  hz: 10\n");
        assert!(set_scalar("cache: {max_memory: 1GB}\n", "cache.max_memory", "1").is_err());
        assert!(
            set_scalar(
                "cache:\n  max_memory:\n    nested: 1\n",
                "cache.max_memory",
                "1"
            )
            .is_err()
        );
    }

    #[test]
    fn the_result_reads_back() {
        let out = set_scalar(FILE, "cache.notify_keyspace_events", &scalar("Kg$")).unwrap();
        let c = crate::config::Config::from_yaml_str(&out, "t.yaml").unwrap();
        assert_eq!(c.cache.notify_keyspace_events, "Kg$");
        assert_eq!(scalar("allkeys-lru"), "allkeys-lru");
        assert_eq!(scalar("a \"b\" c"), "\"a \\\"b\\\" c\"");
        assert_eq!(scalar("false"), "false");
        assert_eq!(scalar("null"), "\"null\"");
    }
}

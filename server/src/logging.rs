//! Log lines on stderr, as text or as one JSON object a line. Every field value is escaped
//! in text lines: webhook answers, headers and ids come from outside, and a newline, an
//! ANSI escape or a bidi control in one would forge a line or hide what a line says.

use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, Writer};

use crate::config::LogFormat;

/// Installs the process's subscriber (with the request's span, so its request id, on every
/// line logged while serving it).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, not in a file or a log collector.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.fmt_fields(escaping_fields()).init(),
        // JSON escapes control characters itself.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The text format's fields (`name=value`, the message bare), each value escaped.
pub fn escaping_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    debug_fn(
        |w: &mut Writer<'_>, field: &Field, value: &dyn std::fmt::Debug| {
            let mut text = String::new();
            let _ = write!(text, "{value:?}");
            if field.name() == "message" {
                w.write_str(&escape(&text))
            } else {
                write!(w, "{}={}", field.name(), escape(&text))
            }
        },
    )
    .delimited(" ")
}

/// Whether `c` reorders or hides text when shown (Unicode's bidirectional controls and
/// marks): a line could then read differently from what it holds.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with control characters and bidi controls written as escapes (`\n`, `\u{1b}`), so
/// one field stays on its line and reads as it is.
pub fn escape(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_escapes_and_bidi_controls_stay_visible_and_on_one_line() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(escape("bad\nINFO forged line"), "bad\\nINFO forged line");
        assert_eq!(escape("\r\u{1b}[31mred"), "\\r\\u{1b}[31mred");
        assert_eq!(escape("abc\u{202E}fed"), "abc\\u{202e}fed");
        assert_eq!(
            escape("\u{2066}x\u{2069}\u{200f}"),
            "\\u{2066}x\\u{2069}\\u{200f}"
        );
        assert_eq!(escape("nul\0"), "nul\\u{0}");
    }
}

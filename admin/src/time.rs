//! Times as the console shows them: UTC, to the second, and how long ago.

use wasm_bindgen::JsValue;

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// `2026-12-03 10:24:58 UTC`.
pub fn absolute(ms: i64) -> String {
    let iso = String::from(js_sys::Date::new(&JsValue::from_f64(ms as f64)).to_iso_string());
    // 2026-12-03T10:24:58.123Z
    let date = iso.get(..10).unwrap_or(&iso);
    let clock = iso.get(11..19).unwrap_or("");
    format!("{date} {clock} UTC")
}

/// `5 min ago`, `2 h 3 min ago`, `in 4 min`.
pub fn ago(ms: i64, now_ms: i64) -> String {
    let d = now_ms - ms;
    let (future, d) = (d < 0, d.abs());
    let s = d / 1000;
    let text = if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A `datetime-local` input's value (taken as UTC) as unix milliseconds.
pub fn parse_local(value: &str) -> Option<i64> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let ms = js_sys::Date::parse(&format!("{v}Z"));
    (!ms.is_nan()).then_some(ms as i64)
}

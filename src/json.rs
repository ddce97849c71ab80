//! JSON through the browser's own `JSON.parse` and `JSON.stringify`, read and written field
//! by field. Not `serde_json` or `serde-wasm-bindgen`: their generic decoders, error texts and
//! float formatting add about 40 KB to the wasm users download, for a handful of small
//! objects. Like `teams`, this module keeps every `JsValue` to itself.

use connector_settings::{Value, Values};
use wasm_bindgen::{JsCast, JsValue};

/// A parsed JSON value (or a JS object from the SDK), read by key.
#[derive(Clone)]
pub struct Json(JsValue);

impl Json {
    /// `text` parsed, or `None` when it is not JSON.
    pub fn parse(text: &str) -> Option<Json> {
        js_sys::JSON::parse(text).ok().map(Json)
    }

    pub(crate) fn from_js(value: JsValue) -> Json {
        Json(value)
    }

    /// The member `key` of an object (`None` when absent, null, or this is no object).
    pub fn get(&self, key: &str) -> Option<Json> {
        if !self.0.is_object() {
            return None;
        }
        let v = js_sys::Reflect::get(&self.0, &JsValue::from_str(key)).ok()?;
        (!v.is_undefined() && !v.is_null()).then_some(Json(v))
    }

    pub fn as_str(&self) -> Option<String> {
        self.0.as_string()
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.0.as_bool()
    }

    /// A whole number that fits `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        let n = self.0.as_f64()?;
        (n >= 0.0 && n.fract() == 0.0 && n < 18_446_744_073_709_551_616.0).then_some(n as u64)
    }

    pub fn as_list(&self) -> Option<Vec<Json>> {
        let array = self.0.dyn_ref::<js_sys::Array>()?;
        Some(array.iter().map(Json).collect())
    }

    /// The text member `key`.
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key)?.as_str()
    }

    /// A settings object: field id to text, list of texts, or true/false. `None` if any
    /// value is something else.
    pub fn as_values(&self) -> Option<Values> {
        if !self.0.is_object() || js_sys::Array::is_array(&self.0) {
            return None;
        }
        let mut values = Values::new();
        for entry in js_sys::Object::entries(self.0.unchecked_ref()).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let key = pair.get(0).as_string()?;
            let v = Json(pair.get(1));
            let value = if let Some(b) = v.as_bool() {
                Value::Bool(b)
            } else if let Some(s) = v.as_str() {
                Value::Text(s)
            } else {
                let mut items = Vec::new();
                for item in v.as_list()? {
                    items.push(item.as_str()?);
                }
                Value::List(items)
            };
            values.insert(key, value);
        }
        Some(values)
    }
}

/// A JSON object built member by member.
pub struct Object(js_sys::Object);

impl Default for Object {
    fn default() -> Object {
        Object(js_sys::Object::new())
    }
}

impl Object {
    fn set(self, key: &str, value: &JsValue) -> Object {
        // Setting a plain data property on a fresh object cannot throw.
        let _ = js_sys::Reflect::set(&self.0, &JsValue::from_str(key), value);
        self
    }

    pub fn str(self, key: &str, value: &str) -> Object {
        self.set(key, &JsValue::from_str(value))
    }

    /// Sets `key` only when there is a value.
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Object {
        match value {
            Some(v) => self.str(key, v),
            None => self,
        }
    }

    pub fn values(self, key: &str, values: &Values) -> Object {
        let mut inner = Object::default();
        for (id, value) in values {
            let v = match value {
                Value::Bool(b) => JsValue::from_bool(*b),
                Value::Text(s) => JsValue::from_str(s),
                Value::List(items) => items
                    .iter()
                    .map(|s| JsValue::from_str(s))
                    .collect::<js_sys::Array>()
                    .into(),
            };
            inner = inner.set(id, &v);
        }
        self.set(key, &inner.0)
    }

    /// The object as JSON text.
    pub fn to_json(&self) -> String {
        js_sys::JSON::stringify(&self.0)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    pub(crate) fn into_js(self) -> JsValue {
        self.0.into()
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn reads_members_and_treats_null_as_absent() {
        let j = Json::parse(r#"{"a":"x","n":3,"b":true,"z":null,"l":["p","q"]}"#).unwrap();
        assert_eq!(j.str("a").as_deref(), Some("x"));
        assert_eq!(j.get("n").and_then(|n| n.as_u64()), Some(3));
        assert_eq!(j.get("b").and_then(|b| b.as_bool()), Some(true));
        assert!(j.get("z").is_none());
        assert!(j.get("missing").is_none());
        assert_eq!(j.str("n"), None, "a number is not a text");
        assert_eq!(
            j.get("l").and_then(|l| l.as_list()).map(|l| l.len()),
            Some(2)
        );
        assert!(Json::parse("{not json").is_none());
        assert!(Json::parse("\"text\"").unwrap().get("a").is_none());
    }

    #[wasm_bindgen_test]
    fn u64_refuses_fractions_negatives_and_overflow() {
        for bad in ["1.5", "-1", "1e20"] {
            assert_eq!(Json::parse(bad).unwrap().as_u64(), None, "{bad}");
        }
        assert_eq!(
            Json::parse("9007199254740991").unwrap().as_u64(),
            Some(9007199254740991)
        );
    }

    #[wasm_bindgen_test]
    fn settings_values_round_trip_and_refuse_other_types() {
        let mut values = Values::new();
        values.insert("name".into(), Value::Text("Nightly <b>".into()));
        values.insert("events".into(), Value::List(vec!["a".into(), "b".into()]));
        values.insert("urgent".into(), Value::Bool(true));
        let text = Object::default().values("settings", &values).to_json();
        let back = Json::parse(&text)
            .unwrap()
            .get("settings")
            .unwrap()
            .as_values();
        assert_eq!(back, Some(values));

        for bad in [r#"{"n":5}"#, r#"{"l":["a",1]}"#, r#"{"o":{}}"#, r#"["a"]"#] {
            assert_eq!(Json::parse(bad).unwrap().as_values(), None, "{bad}");
        }
    }

    #[wasm_bindgen_test]
    fn optional_members_are_left_out_when_absent() {
        let text = Object::default()
            .str("a", "x")
            .opt_str("b", None)
            .opt_str("c", Some("\"quoted\""))
            .to_json();
        assert_eq!(text, r#"{"a":"x","c":"\"quoted\""}"#);
    }
}

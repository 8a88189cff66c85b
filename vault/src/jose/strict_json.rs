//! JSON parsing that refuses duplicate object keys, at any depth.
//!
//! `serde_json::Value` keeps the last of two equal keys, so `{"alg":"none","alg":"ES256"}`
//! would read as ES256 here and as `none` in a parser that keeps the first. Token headers
//! and claims are attacker input: they are parsed with this instead, and a duplicate is an
//! error.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses `bytes` as one JSON value, refusing duplicate keys and trailing data.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut deserializer)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom("duplicate key in a JSON object"));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(parse(br#"{"alg":"none","alg":"ES256"}"#).is_err());
        assert!(parse(br#"{"cnf":{"jkt":"a","jkt":"b"}}"#).is_err());
        assert!(parse(br#"[{"a":1},{"b":1,"b":2}]"#).is_err());
        assert!(parse(br#"{"a":1} trailing"#).is_err());
        assert_eq!(
            parse(br#"{"a":1,"b":[1,2.5,"x",null,true]}"#).unwrap()["b"][1],
            2.5
        );
    }

    #[test]
    fn numbers_keep_their_kind() {
        let v = parse(br#"{"i":1,"f":1.0,"e":1e20,"big":18446744073709551615,"neg":-1}"#).unwrap();
        assert!(v["i"].is_u64());
        assert!(v["f"].is_f64() && v["e"].is_f64());
        assert_eq!(v["big"].as_u64(), Some(u64::MAX));
        assert!(v["neg"].is_i64());
    }
}

//! Subkeys: a secret's structure with every leaf value replaced by `null`.

use serde_json::{Map, Value};

/// The keys of `data` down to `depth` levels (0 = all levels); leaves and objects below the
/// depth become `null`.
pub fn subkeys(data: &Map<String, Value>, depth: u32) -> Value {
    Value::Object(level(data, depth, 1))
}

fn level(data: &Map<String, Value>, depth: u32, at: u32) -> Map<String, Value> {
    data.iter()
        .map(|(key, value)| {
            let shape = match value {
                Value::Object(child) if depth == 0 || at < depth => {
                    Value::Object(level(child, depth, at + 1))
                }
                _ => Value::Null,
            };
            (key.clone(), shape)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        let data = json!({"a": 1, "b": {"c": "x", "d": {"e": [1]}}, "f": [ {"g": 1} ]});
        let Value::Object(map) = data else { panic!() };
        assert_eq!(
            subkeys(&map, 0),
            json!({"a": null, "b": {"c": null, "d": {"e": null}}, "f": null})
        );
        assert_eq!(subkeys(&map, 1), json!({"a": null, "b": null, "f": null}));
        assert_eq!(
            subkeys(&map, 2),
            json!({"a": null, "b": {"c": null, "d": null}, "f": null})
        );
    }
}

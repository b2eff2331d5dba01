//! The data of `rampart secret put`, as `vault kv put` takes it: `key=value` pairs, where a
//! value `@file` is read from the file and `-` from stdin, or one argument `-` / `@file.json`
//! holding a whole JSON object.

use std::io::Read;

use anyhow::Context;
use serde_json::{Map, Value};

/// The JSON object `args` describe; stdin is read at most once.
pub fn parse(args: &[String], stdin: &mut impl Read) -> anyhow::Result<Map<String, Value>> {
    let mut stdin_used = false;
    let mut take_stdin = |what: &str| -> anyhow::Result<String> {
        if stdin_used {
            anyhow::bail!("only one value can come from stdin ({what})");
        }
        stdin_used = true;
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        Ok(text)
    };
    if let [one] = args
        && !one.contains('=')
    {
        let text = match one.strip_prefix('@') {
            Some(file) => read_file(file)?,
            None if one == "-" => take_stdin("the JSON object")?,
            None => anyhow::bail!("`{one}` is not `key=value`, `-` or `@file.json`"),
        };
        return match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => anyhow::bail!("the data must be a JSON object"),
            Err(e) => Err(anyhow::anyhow!("the data is not JSON: {e}")),
        };
    }
    let mut data = Map::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            anyhow::bail!("`{arg}` is not `key=value`");
        };
        if key.is_empty() {
            anyhow::bail!("`{arg}` has an empty key");
        }
        let value = if value == "-" {
            let text = take_stdin(key)?;
            text.strip_suffix('\n').map(str::to_owned).unwrap_or(text)
        } else if let Some(file) = value.strip_prefix('@') {
            read_file(file)?
        } else {
            value.to_owned()
        };
        if data.insert(key.to_owned(), Value::String(value)).is_some() {
            anyhow::bail!("the key `{key}` is given twice");
        }
    }
    Ok(data)
}

fn read_file(file: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read `{file}`"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pairs_files_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pem");
        std::fs::write(&file, "line1\nline2\n").unwrap();
        let from_file = format!("cert=@{}", file.display());
        let mut stdin = "s3cr3t\n".as_bytes();
        let data = parse(
            &args(&["user=app", &from_file, "pass=-", "eq=a=b"]),
            &mut stdin,
        )
        .unwrap();
        assert_eq!(data["user"], "app");
        assert_eq!(
            data["cert"], "line1\nline2\n",
            "files are taken as they are"
        );
        assert_eq!(
            data["pass"], "s3cr3t",
            "one trailing newline of stdin is dropped"
        );
        assert_eq!(data["eq"], "a=b", "only the first `=` splits");
    }

    #[test]
    fn a_json_object_from_stdin() {
        let mut stdin = r#"{"n": 3, "nested": {"a": true}}"#.as_bytes();
        let data = parse(&args(&["-"]), &mut stdin).unwrap();
        assert_eq!(data["n"], 3);
        assert_eq!(data["nested"]["a"], true);
        assert!(parse(&args(&["-"]), &mut "[1]".as_bytes()).is_err());
    }

    #[test]
    fn refuses_what_is_ambiguous() {
        let mut stdin = "x".as_bytes();
        assert!(
            parse(&args(&["a=-", "b=-"]), &mut stdin).is_err(),
            "stdin twice"
        );
        assert!(
            parse(&args(&["a=1", "a=2"]), &mut "".as_bytes()).is_err(),
            "key twice"
        );
        assert!(
            parse(&args(&["=1"]), &mut "".as_bytes()).is_err(),
            "empty key"
        );
        assert!(
            parse(&args(&["a=1", "b"]), &mut "".as_bytes()).is_err(),
            "no ="
        );
        assert!(parse(&args(&["a=@/nonexistent/file"]), &mut "".as_bytes()).is_err());
    }
}

//! The AWS http-desync-guardian corpus (`shared/testdata/http-desync/*.yaml`) as raw HTTP/1.1
//! request bytes, for "no smuggling" tests against the gateway.
//!
//! A case becomes bytes the way the corpus's own harness builds its raw requests
//! (`src/request_analyzer.rs` tests in aws/http-desync-guardian):
//! `{method} {uri} {version}\r\n`, one `{name}: {value}\r\n` per header in file order, `\r\n`.
//! The choices that harness leaves open, and how they are made here:
//!
//! - **Host.** The corpus sends none (only "Bad method" in `severe.yaml` has one). HTTP/1.1 requires
//!   it (RFC 9112 §3.2), so a gateway may rightly answer 400 to a compliant case for that reason
//!   alone. [`Case::raw`] therefore inserts `Host: localhost` right after the request line when the
//!   case has no header named exactly `host` (any case). It goes first so that the corpus's own
//!   header lines still end the head exactly as in the corpus (a value ending in `\r\n`, say, still
//!   makes the empty line). [`Case::render`] gives the corpus's exact form (`None`) or another host.
//! - **Body.** The format has no body field, so no case sends one: a case announcing
//!   `Content-Length: 1000` is a head only, and a server that waits for that body waits in vain.
//! - **Escapes.** The YAML parser decodes double-quoted escapes; then, as in the corpus's harness, a
//!   second pass decodes `\xHH`, `\b`, `\f`, `\n`, `\r`, `\t` and `\c` (= `c`). That pass only
//!   changes the plain-scalar URI `/foo/bar\t/baz` (`edge-cases.yaml`, a tab) and `\"` in one URI
//!   of `rfc-compliant.yaml`.
//! - **Octets.** A character from U+0000 to U+00FF is the single octet of that value, so `"\xa0"` is
//!   the obs-text byte 0xA0 the case means (the upstream harness wrote it as UTF-8 `C2 A0`); any
//!   other character (`ſ`, `ı`, `―`, Cyrillic) is written as UTF-8. No case has a literal
//!   character in the Latin-1 range, so the rule is unambiguous (a test keeps it so).
//! - **Numbers.** `value: 1000` is taken as the scalar's text, `1000`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Every case file of the corpus, in the order the upstream harness runs them.
pub const FILES: [&str; 10] = [
    "single-case.yaml",
    "edge-cases.yaml",
    "rfc-compliant.yaml",
    "acceptable.yaml",
    "ambiguous.yaml",
    "bad-header-characters.yaml",
    "more-compliant-tests.yaml",
    "severe.yaml",
    "uri-specific-test-cases.yaml",
    "real-life-test-cases.yaml",
];

/// The host [`Case::raw`] carries when the case has none of its own.
pub const DEFAULT_HOST: &str = "localhost";

/// One classified request of the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The corpus file it came from, e.g. `severe.yaml`.
    pub file: String,
    /// The case's human-readable name (not unique: `acceptable.yaml` repeats one).
    pub name: String,
    /// `expected.tier`: `Compliant`, `Acceptable`, `Ambiguous` or `Severe`.
    pub tier: String,
    /// `expected.reason`, e.g. `MultipleContentLength`.
    pub reason: String,
    /// `expected.required_message_items`: substrings the guardian's log message must contain.
    pub required_message_items: Vec<String>,
    pub method: Vec<u8>,
    pub uri: Vec<u8>,
    pub version: Vec<u8>,
    pub headers: Vec<Header>,
    /// The request to send: [`Case::render`] with [`DEFAULT_HOST`].
    pub raw: Vec<u8>,
}

/// One header line of a case, exactly as it goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// The corpus's verdict on this header alone: `Compliant`, `NonCompliant` or `Bad`.
    pub tier: String,
}

/// The shared test-data folder (`<repo>/../shared/testdata`); panics if it is missing.
pub fn shared_testdata() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    dir.canonicalize().unwrap_or_else(|e| {
        panic!(
            "shared test data not found at `{}` ({e}): it must sit beside the repository as \
             `../shared/testdata` (see shared/testdata/README.md)",
            dir.display()
        )
    })
}

/// The folder holding the corpus files.
pub fn corpus_dir() -> PathBuf {
    shared_testdata().join("http-desync")
}

/// Loads every case of one corpus file, e.g. `load("severe.yaml")`; panics on any problem.
pub fn load(file_name: &str) -> Vec<Case> {
    let path = corpus_dir().join(file_name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    let docs: Vec<CaseDoc> = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("`{}` is not a corpus file: {e}", path.display()));
    docs.into_iter()
        .map(|doc| doc.into_case(file_name))
        .collect()
}

/// Loads the cases of all [`FILES`].
pub fn load_all() -> Vec<Case> {
    FILES.iter().flat_map(|file| load(file)).collect()
}

// === impl Case ===

impl Case {
    /// The request bytes, with `Host: {host}` inserted after the request line when `host` is given
    /// and the case has no Host header of its own. `render(None)` is the corpus's exact form.
    pub fn render(&self, host: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        for (i, part) in [&self.method, &self.uri, &self.version]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b"\r\n");
        if let Some(host) = host.filter(|_| !self.has_host()) {
            out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
        }
        for header in &self.headers {
            out.extend_from_slice(&header.name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&header.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Whether the case brings its own header named exactly `host` (in any case).
    pub fn has_host(&self) -> bool {
        self.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(b"host"))
    }
}

// === file format ===

/// One entry of a corpus file, as written (see the corpus's `tests/README.md`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDoc {
    name: String,
    uri: String,
    method: String,
    version: String,
    /// `headers:` with nothing after it means no headers.
    headers: Option<Vec<HeaderDoc>>,
    expected: ExpectedDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderDoc {
    name: String,
    /// Plain numbers (`value: 1000`) arrive as their text.
    value: String,
    tier: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedDoc {
    tier: String,
    reason: String,
    required_message_items: Option<Vec<String>>,
}

impl CaseDoc {
    fn into_case(self, file: &str) -> Case {
        let headers = self
            .headers
            .unwrap_or_default()
            .into_iter()
            .map(|h| Header {
                name: octets(&h.name),
                value: octets(&h.value),
                tier: h.tier,
            })
            .collect();
        let mut case = Case {
            file: file.to_owned(),
            name: self.name,
            tier: self.expected.tier,
            reason: self.expected.reason,
            required_message_items: self
                .expected
                .required_message_items
                .unwrap_or_default()
                .iter()
                .map(|item| unescape(item))
                .collect(),
            method: octets(&self.method),
            uri: octets(&self.uri),
            version: octets(&self.version),
            headers,
            raw: Vec::new(),
        };
        case.raw = case.render(Some(DEFAULT_HOST));
        case
    }
}

/// The wire bytes of a corpus field: the second escape pass, then one octet per Latin-1 char.
fn octets(field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    for c in unescape(field).chars() {
        match u8::try_from(c) {
            Ok(byte) => out.push(byte),
            Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// The upstream harness's `unescape_value`, applied after YAML's own decoding.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars
            .next()
            .unwrap_or_else(|| panic!("malformed escape at the end of `{s}`"));
        out.push(match escaped {
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = u8::from_str_radix(&hex, 16)
                    .unwrap_or_else(|_| panic!("malformed `\\x{hex}` escape in `{s}`"));
                char::from(byte)
            }
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            other => other,
        });
    }
    out
}

#[cfg(test)]
mod tests;

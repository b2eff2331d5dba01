use super::*;

fn case(file: &str, name: &str) -> Case {
    let mut found = load(file).into_iter().filter(|c| c.name == name);
    let case = found
        .next()
        .unwrap_or_else(|| panic!("no case `{name}` in {file}"));
    assert!(found.next().is_none(), "case `{name}` is not unique");
    case
}

#[test]
fn severe_yields_every_case() {
    // `grep -c '^- name' severe.yaml` gives 27.
    let cases = load("severe.yaml");
    assert_eq!(cases.len(), 27);
    assert!(cases.iter().all(|c| c.tier == "Severe"), "{cases:?}");
    assert!(cases.iter().all(|c| c.file == "severe.yaml"));
}

#[test]
fn every_file_loads_with_its_grep_count() {
    let expected = [1, 8, 14, 9, 37, 15, 10, 27, 14, 24];
    for (file, n) in FILES.iter().zip(expected) {
        assert_eq!(load(file).len(), n, "{file}");
    }
    assert_eq!(load_all().len(), 159);
    let tiers = ["Compliant", "Acceptable", "Ambiguous", "Severe"];
    assert!(load_all().iter().all(|c| tiers.contains(&c.tier.as_str())));
}

#[test]
fn files_lists_the_whole_corpus() {
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn multiple_content_length_bytes() {
    let c = case("severe.yaml", "Multiple Content-Length");
    assert_eq!(c.reason, "MultipleContentLength");
    assert_eq!(c.required_message_items, ["Multiple", "Content-Length"]);
    assert_eq!(
        c.raw,
        b"POST /foo/bar HTTP/1.1\r\nHost: localhost\r\n\
          Content-Length: 1000\r\nContent-Length: 100\r\n\r\n"
    );
    assert_eq!(
        c.render(None),
        b"POST /foo/bar HTTP/1.1\r\nContent-Length: 1000\r\nContent-Length: 100\r\n\r\n"
    );
    assert!(
        c.render(Some("api.test"))
            .starts_with(b"POST /foo/bar HTTP/1.1\r\nHost: api.test\r\n")
    );
}

#[test]
fn control_bytes_are_exact() {
    let c = case(
        "severe.yaml",
        "Bad character in Transfer-Encoding value: chunked\\x11",
    );
    assert_eq!(
        c.raw,
        b"POST /foo/bar HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\x11\r\n\r\n"
    );
    // The message item `"chunked\\\\0x11"` is `chunked\0x11` after both passes.
    assert_eq!(c.required_message_items[1], "chunked\\0x11");

    let c = case("severe.yaml", "\\0 in name is bad");
    assert_eq!(
        c.render(None),
        b"POST /foo/bar HTTP/1.1\r\nSome-Bad-Header\x00: 1000\r\n\r\n"
    );

    let c = case("severe.yaml", "Multiline headers are deprecated");
    let expected: &[u8] = b"POST /foo/bar HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\
        Some-Custom-Header: Multi-line values\r\n are \n deprecated. E.g. it may contain \n \
        Transfer-Encoding: chunked\r\n\r\n\r\n";
    assert_eq!(c.raw, expected);
}

#[test]
fn case_with_host_gets_no_second_one() {
    let c = case("severe.yaml", "Bad method");
    assert!(c.has_host());
    assert_eq!(
        c.raw,
        b"bad_method\x01 /foo/bar HTTP/1.1\r\nHost: localhost\r\n\r\n"
    );
    assert_eq!(c.render(Some("other")), c.render(None));
}

#[test]
fn latin1_escapes_are_single_octets_and_unicode_is_utf8() {
    let c = case(
        "bad-header-characters.yaml",
        "Transfer-Encoding: \\xa0chunked",
    );
    assert_eq!(c.headers[0].value, b"\xa0chunked");
    assert_eq!(c.headers[0].tier, "Bad");

    let c = case(
        "ambiguous.yaml",
        "Transfer-Encoding Latin Small Letter Long S",
    );
    assert_eq!(c.headers[0].name, "Tranſfer-Encoding".as_bytes());
    assert!(c.raw.windows(3).any(|w| w == b"\xc5\xbff"));
}

#[test]
fn corpus_has_no_literal_latin1_characters() {
    // The octet rule above relies on it: U+0080..U+00FF only ever comes from a `\x` escape.
    for file in FILES {
        let text = std::fs::read_to_string(corpus_dir().join(file)).unwrap();
        let bad: Vec<char> = text
            .chars()
            .filter(|c| ('\u{80}'..='\u{ff}').contains(c))
            .collect();
        assert!(bad.is_empty(), "{file}: {bad:?}");
    }
}

#[test]
fn empty_version_empty_headers_and_plain_escapes() {
    let c = case("acceptable.yaml", "Empty version, which means HTTP/0.9");
    assert!(c.raw.starts_with(b"GET /foo/bar \r\n"));

    let c = case("rfc-compliant.yaml", "No headers");
    assert!(c.headers.is_empty());
    assert_eq!(c.raw, b"GET /foo/bar HTTP/1.1\r\nHost: localhost\r\n\r\n");

    let c = case(
        "edge-cases.yaml",
        "Bad URI does not shadow essential bad headers",
    );
    assert_eq!(c.uri, b"/foo/bar\t/baz");
    assert_eq!(c.headers[1].value, b"chunked\x80");

    let c = case("rfc-compliant.yaml", "Compliant URL");
    assert!(
        c.uri.windows(4).any(|w| w == b"~\"|&"),
        "{:?}",
        String::from_utf8_lossy(&c.uri)
    );

    let c = case("ambiguous.yaml", "Empty header name");
    assert!(
        c.render(None)
            .ends_with(b"\r\n: chunked\r\nContent-Length: 1000\r\n\r\n")
    );
}

#[test]
fn unescape_matches_the_upstream_harness() {
    assert_eq!(unescape(r"a\tb\x41\q\\"), "a\tbAq\\");
    assert_eq!(octets("\u{a0}ı"), b"\xa0\xc4\xb1");
}

#[test]
fn shared_testdata_exists() {
    assert!(shared_testdata().join("README.md").is_file());
}

//! Opening failures: bad URLs, unreachable servers, and passwords that must never show.

use std::error::Error as _;
use std::time::{Duration, Instant};

use rampart_store::{Store, StoreError, StoreOptions};

use crate::harness::TestDb;

const SECRET: &str = "hunter2-do-not-print";

/// Display, Debug and every source of `err`, to check that none of them leaks [`SECRET`].
fn everything_printed(err: &StoreError) -> String {
    let mut out = format!("{err} {err:?}");
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(&format!(" {e} {e:?}"));
        source = e.source();
    }
    out
}

#[tokio::test]
async fn unsupported_scheme_is_rejected() {
    let err = Store::open(&format!("mysql://root:{SECRET}@localhost/db"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsupportedScheme { scheme } if scheme == "mysql"),
        "{err:?}"
    );
    assert!(!everything_printed(&err).contains(SECRET));
}

#[tokio::test]
async fn malformed_urls_are_rejected() {
    for url in [
        "",
        "no-scheme-at-all",
        "sqlite://",
        format!("postgres://u:{SECRET}@host:notaport/db").as_str(),
    ] {
        let err = Store::open(url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
        assert!(!everything_printed(&err).contains(SECRET), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_a_connect_error_not_a_hang() {
    let url = format!("postgres://rampart:{SECRET}@127.0.0.1:1/rampart");
    let options = StoreOptions::default().connect_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), Store::open_with(&url, &options))
        .await
        .expect("opening an unreachable server must not hang");
    let err = result.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            &err,
            StoreError::Connect {
                backend: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
    let printed = everything_printed(&err);
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(
        err.to_string()
            .contains("postgres://rampart:***@127.0.0.1:1/rampart"),
        "{err}"
    );
}

#[tokio::test]
async fn debug_of_an_open_store_hides_the_password() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let debug = format!("{store:?}");
    assert!(debug.contains("backend: \"postgres\""), "{debug}");
    // `scheme://user:password@host…`: the user info has a second `:` only if it holds a password.
    let userinfo = db.url.rsplit_once('@').map_or("", |(userinfo, _)| userinfo);
    if userinfo.matches(':').count() > 1 {
        assert!(debug.contains(":***@"), "{debug}");
        assert!(!debug.contains(userinfo), "{debug}");
    }
    store.close().await;
    db.finish().await;
}

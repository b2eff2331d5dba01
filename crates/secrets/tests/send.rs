//! The engine's futures are `Send` (the HTTP layer runs them on a multi-threaded runtime).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_secrets::{KvConfigUpdate, MetadataUpdate, Secrets};
use serde_json::{Map, Value};

fn send<T: Send>(_: &T) {}

#[allow(dead_code, reason = "only type-checked: never called")]
fn futures_are_send(secrets: &Secrets, store: rampart_store::Store) {
    let kv = secrets.kv();
    send(&Secrets::open(
        store,
        &Default::default(),
        std::path::Path::new("."),
    ));
    send(&secrets.init(5, 3));
    send(&secrets.unseal("00"));
    send(&secrets.rotate_root());
    send(&secrets.key_status());
    send(&kv.write("a", Map::new(), None));
    send(&kv.patch("a", &Value::Null, None));
    send(&kv.read("a", None));
    send(&kv.subkeys("a", None, 0));
    send(&kv.delete_versions("a", &[]));
    send(&kv.undelete("a", &[]));
    send(&kv.destroy("a", &[]));
    send(&kv.metadata("a"));
    send(&kv.put_metadata("a", &MetadataUpdate::default()));
    send(&kv.delete_metadata("a"));
    send(&kv.list(""));
    send(&kv.put_config(&KvConfigUpdate::default()));
}

#[test]
fn handles_are_send_and_sync() {
    fn both<T: Send + Sync + Clone + 'static>() {}
    both::<Secrets>();
    both::<rampart_secrets::Kv>();
}

//! The NATS sink against a real JetStream server: every record published once under its kind's
//! subject, re-deliveries recognised by `Nats-Msg-Id`, invalid lines refused, failures typed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support_nats/records.rs"]
mod records;
#[path = "support_nats/server.rs"]
mod server;

use rampart_ship::{Batch, Delivered, EventSink, NatsError, NatsOptions, NatsSink, SinkError};
use records::{batch, records};
use server::NatsServer;
use std::time::Duration;

#[tokio::test]
async fn publishes_every_record_once_and_recognises_redeliveries() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let sink = NatsSink::connect(&NatsOptions::new(&server.url))
        .await
        .expect("connect");
    let sent = records(600);
    let batch = batch(&sent);

    let first = sink.deliver(&batch).await.expect("first delivery");
    assert_eq!(
        first,
        Delivered {
            stored: 600,
            duplicates: 0,
            rejected: 0
        }
    );
    let again = sink.deliver(&batch).await.expect("second delivery");
    assert_eq!(
        again,
        Delivered {
            stored: 0,
            duplicates: 600,
            rejected: 0
        }
    );
    assert_eq!(sink.name(), "nats");

    let client = async_nats::connect(&server.url).await.expect("client");
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .get_stream("RAMPART_EVENTS")
        .await
        .expect("stream created by the sink");
    let info = stream.info().await.expect("stream info");
    assert_eq!(
        info.state.messages, 600,
        "one message per record, duplicates dropped"
    );
    assert_eq!(info.config.subjects, vec!["rampart.events.>".to_string()]);
    assert_eq!(
        info.config.storage,
        async_nats::jetstream::stream::StorageType::File
    );

    // The last record of each kind sits under that kind's subject, with its id as message id.
    for (subject, expected) in [
        ("rampart.events.admin", &sent[598]),
        ("rampart.events.security", &sent[599]),
    ] {
        let message = stream
            .get_last_raw_message_by_subject(subject)
            .await
            .expect(subject);
        assert_eq!(message.payload.as_ref(), expected.json.as_bytes());
        let headers = message.headers;
        assert_eq!(
            headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some(expected.id.as_str()),
        );
    }
}

#[tokio::test]
async fn refuses_invalid_lines_and_publishes_the_rest() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let sink = NatsSink::connect(&NatsOptions::new(&server.url))
        .await
        .expect("connect");
    let sent = records(3);
    let mut batch = batch(&sent);
    batch
        .lines
        .insert(1, bytes::Bytes::from_static(b"{\"not\":\"an event\"}"));
    batch.ids.insert(1, "bogus".into());
    let delivered = sink.deliver(&batch).await.expect("delivery");
    assert_eq!(
        delivered,
        Delivered {
            stored: 3,
            duplicates: 0,
            rejected: 1
        }
    );
    assert_eq!(
        sink.deliver(&Batch::default()).await.expect("empty"),
        Delivered::default()
    );
}

#[tokio::test]
async fn a_missing_server_is_a_connect_error_and_a_dead_one_unreachable() {
    let Some(mut server) = NatsServer::start().await else {
        return;
    };
    let mut options = NatsOptions::new(&server.url);
    options.request_timeout = Duration::from_secs(1);
    options.token = Some("s3cret-token".into());
    assert!(
        !format!("{options:?}").contains("s3cret"),
        "token never printed"
    );
    options.token = None;
    let sink = NatsSink::connect(&options).await.expect("connect");

    server.kill();
    let started = std::time::Instant::now();
    let error = sink
        .deliver(&batch(&records(5)))
        .await
        .expect_err("server is gone");
    assert!(matches!(error, SinkError::Unreachable(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded: {:?}",
        started.elapsed()
    );

    // The client reconnects by itself: once the server is back, delivery resumes.
    server.restart().await;
    let sent = records(5);
    let mut delivered = None;
    for _ in 0..50 {
        match sink.deliver(&batch(&sent)).await {
            Ok(d) => {
                delivered = Some(d);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert_eq!(delivered.map(|d| d.stored + d.duplicates), Some(5));

    let mut dead = NatsOptions::new(format!("nats://127.0.0.1:{}", rampart_testkit::free_port()));
    dead.request_timeout = Duration::from_secs(1);
    let error = NatsSink::connect(&dead)
        .await
        .err()
        .expect("nobody listens");
    assert!(matches!(error, NatsError::Connect { .. }), "{error}");
}

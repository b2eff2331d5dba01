//! Certificate-bound tokens (RFC 8705 `cnf.x5t#S256`) on a mesh listener, where every client
//! presents its SVID: the token passes only with the certificate it is bound to.

use super::described;
use super::idp::{AUDIENCE, Idp, SCOPE};
use crate::mesh::support::{Ca, Member, client_config, h1_client};
use crate::support::{Gw, config};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rampart_testkit::RecordingUpstream;
use serde_json::json;

#[tokio::test]
async fn bound_token_needs_its_certificate() {
    let idp = Idp::start().await;
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let member = Member::new(&ca.issue("orders"), ca.bundle());
    let cfg = config(&format!(
        r#"
        listeners: [{{ name: inbound, address: "127.0.0.1:0", mesh: true }}]
        clusters: [{{ name: app, endpoints: ["{app}"] }}]
        routes:
          - name: inbound
            listeners: [inbound]
            cluster: app
            auth:
              jwt:
                issuers: [{{ issuer: "{iss}", ca: "{ca}" }}]
                audiences: [{AUDIENCE}]
                scopes: [{SCOPE}]
        "#,
        app = app.addr(),
        iss = idp.issuer,
        ca = idp.ca.display(),
    ));
    let gw = Gw::start_mesh(cfg, member.ctx.clone()).await;
    let web = ca.issue("web");
    let other = ca.issue("billing");
    let bound_to = |svid: &crate::mesh::support::Svid| {
        let mut claims = idp.claims();
        claims["cnf"] =
            json!({ "x5t#S256": rampart_token::certificate_thumbprint(&svid.chain[0]) });
        idp.sign(&idp.key, &claims)
    };
    let mut client = h1_client(
        gw.listener("inbound"),
        client_config(&web, "orders", ca.bundle(), &[]),
    )
    .await;
    let mut get = async |token: String| {
        let req = Request::get("/orders")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::<Bytes>::default())
            .unwrap();
        client.send(req).await
    };
    let r = get(bound_to(&web)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(bound_to(&other)).await;
    assert_eq!(r.status, 401);
    assert_eq!(described(&r), "certificate_mismatch");
    // An unbound token needs no certificate match.
    assert_eq!(get(idp.token()).await.status, 200);
    assert_eq!(app.count(), 2);
}

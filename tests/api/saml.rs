//! SAML service-provider endpoints.

use crate::helpers::spawn_app;

#[actix_web::test]
async fn sp_metadata_is_served_per_org() {
    let app = spawn_app().await;
    let mut res = app
        .client
        .get(format!("{}/saml/acme/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/samlmetadata+xml"
    );
    let body = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert!(
        body.contains(r#"entityID="http://127.0.0.1:8080/saml/acme""#),
        "{body}"
    );
    assert!(
        body.contains(r#"Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:8080/saml/acme/acs""#),
        "{body}"
    );
    assert!(body.contains(r#"WantAssertionsSigned="true""#));
    let mut res = app
        .client
        .get(format!("{}/saml/nope/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert!(body.contains("No such organization"), "{body}");
}

//! The SCIM directory's domain: schemas, the filter/path grammar, resource documents and the
//! PATCH engine. Pure functions over `serde_json::Value`; no I/O, no HTTP, no SQL.

pub mod filter;
pub mod patch;
pub mod product;
pub mod resource;
pub mod schema;

/// The case folding used wherever SCIM compares case-insensitively (caseExact = false):
/// stored key columns, filter parameters and uniqueness checks all go through this one
/// function so that they agree.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// `v` as compact JSON text: serde_json's writer (`Value`'s `Display` goes through
/// `fmt::Write` a token at a time and is several times slower).
pub fn compact(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A new user's or group's SCIM id: a UUID whose first 48 bits are the creation time
/// (version 7, RFC 9562) and whose other 74 bits are random. Ids made one after another
/// sort one after another, so each create appends to the B-trees keyed by id (the users'
/// and groups' unique id, their email rows', the provisioning log's target) instead of
/// dirtying a random page of each: fewer pages written per batch. Nothing new is revealed:
/// `meta.created` already says when.
pub fn new_id(at: time::OffsetDateTime) -> String {
    let nanos = at.unix_timestamp_nanos();
    let secs = u64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, sub)).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::{Duration, OffsetDateTime};

    #[test]
    fn compact_text_is_the_bytes_display_wrote() {
        // Envelopes stored before `compact` replaced `to_string()` were these bytes; signed
        // deliveries and the product's copies must not change form.
        let v = json!({
            "id": "evt_1", "n": -1.5, "big": 12345678901234_i64, "t": true, "none": null,
            "s": "quote \" backslash \\ tab \t nl \n ctl \u{1} é 😀 </script>",
            "a": [1, {"nested": [], "o": {}}],
        });
        assert_eq!(super::compact(&v), v.to_string());
        assert!(!super::compact(&v).contains('\n'), "one line");
    }

    #[test]
    fn new_ids_are_uuids_in_creation_order() {
        let t = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let ids: Vec<String> = (0..50)
            .map(|i| super::new_id(t + Duration::milliseconds(i)))
            .collect();
        for id in &ids {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 7, "{id}");
            assert_eq!(id, &u.to_string(), "lowercase hyphenated form");
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // The random part differs within one millisecond.
        assert_ne!(super::new_id(t), super::new_id(t));
    }
}

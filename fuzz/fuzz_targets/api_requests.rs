//! Arbitrary bytes as the JSON bodies of the Toxiproxy API: creating a proxy, creating a
//! toxic, and updating a valid toxic of every type, through the parsers of
//! `chaosday_proxy::toxiproxy`. None may panic; what they accept must be in range (the
//! registry's own check passes), must read back as itself, and an update must keep the
//! toxic's name, stream and type.

#![no_main]

use chaosday_proxy::toxic::{TYPES, check_name};
use chaosday_proxy::toxiproxy::{
    attributes_json, parse_proxy, parse_proxy_update, parse_toxic, parse_toxic_update, toxic_json,
};
use chaosday_proxy::{Toxic, ToxicKind};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(config) = parse_proxy(&body) {
        assert!(check_name("proxy", &config.name).is_ok() && !config.upstream.is_empty());
        config.toxics.iter().for_each(check);
    }
    let _ = parse_proxy_update("p", &body);
    if let Ok(toxic) = parse_toxic(&body) {
        check(&toxic);
    }
    for type_name in TYPES {
        let created = serde_json::json!({ "type": type_name });
        let toxic = parse_toxic(&created).expect("a valid toxic");
        match parse_toxic_update(&toxic, &body) {
            Ok(update) => {
                let mut after = toxic.clone();
                if let Some(kind) = update.kind {
                    assert_eq!(kind.type_name(), toxic.kind.type_name());
                    after.kind = kind;
                }
                if let Some(toxicity) = update.toxicity {
                    after.toxicity = toxicity;
                }
                check(&after);
            }
            Err(e) => assert_eq!(e.status, 400),
        }
    }
});

/// A toxic the API accepted: in range, and its JSON creates it again.
fn check(toxic: &Toxic) {
    assert!((0.0..=1.0).contains(&toxic.toxicity), "{toxic:?}");
    assert!(!toxic.name.is_empty());
    toxic.check().expect("the registry takes what the API accepted");
    for (name, value) in attributes_json(&toxic.kind) {
        if let Some(n) = value.as_i64() {
            assert!(n >= 0, "attributes.{name} = {n} in {toxic:?}");
        }
    }
    if let ToxicKind::HttpError { status, .. } = toxic.kind {
        assert!((100..=599).contains(&status));
    }
    let json = toxic_json(toxic);
    let again = parse_toxic(&json).expect("its own JSON is a valid toxic");
    assert_eq!(toxic_json(&again), json, "{toxic:?}");
}

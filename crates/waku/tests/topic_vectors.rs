//! `testdata/vectors/topics.json`: the topics status-go used (keccak256(input)[0..4]), their
//! PBKDF2 symmetric keys, and the blooms its mailserver stored for them.

mod testdata;

use serde_json::Value;
use wisp_crypto::symmetric_key_from_password;
use wisp_waku::{Bloom, Topic};

use {alloy_rlp as _, bytes as _, criterion as _, proptest as _, thiserror as _, tracing as _};

fn doc() -> Value {
    testdata::json("vectors/topics.json")
}

#[test]
fn topics_and_keys() {
    let d = doc();
    let topics = d["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 15, "topics in topics.json");
    let mut keys = 0;
    for t in topics {
        let input = t["input_string"].as_str().unwrap();
        let want: Topic = t["topic"].as_str().unwrap().parse().unwrap();
        assert_eq!(Topic::from_name(input), want, "{}", t["name"]);
        if let Some(key) = t["sym_key"].as_str() {
            assert_eq!(hex::encode(*symmetric_key_from_password(input)), key, "{}", t["name"]);
            keys += 1;
        }
    }
    assert_eq!(keys, 11, "symmetric keys checked");
}

#[test]
fn mailserver_blooms() {
    let d = doc();
    let values = d["topic_blooms"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 10);
    for v in values {
        let topic: Topic = v["topic"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            hex::encode(Bloom::from_topic(&topic).0),
            v["bloom"].as_str().unwrap(),
            "{topic}"
        );
    }
}

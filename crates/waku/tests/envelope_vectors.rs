//! `testdata/vectors/waku/envelopes.json` and `testdata/vectors/shh/envelopes.json`: every envelope
//! decodes into the recorded fields, re-encodes byte for byte, and reproduces the recorded hash
//! and PoW bit for bit (DECISIONS 3).

mod testdata;

use serde_json::Value;
use wisp_waku::{Envelope, Topic};

use {
    alloy_rlp as _, bytes as _, criterion as _, hex as _, proptest as _, thiserror as _,
    tracing as _, wisp_crypto as _,
};

fn load(rel: &str) -> Value {
    testdata::json(&format!("vectors/{rel}"))
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Checks every vector of `file`; returns (vectors, reported PoW values compared).
fn check(file: &str) -> (usize, usize) {
    let doc = load(file);
    let mut n = 0;
    let mut pow_checks = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let rlp = h(&v["envelope_rlp"]);
        let env = Envelope::decode(&mut &rlp[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let f = &v["fields"];
        assert_eq!(u64::from(env.expiry), f["expiry"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(env.ttl), f["ttl"].as_u64().unwrap(), "{name}");
        assert_eq!(env.topic, f["topic"].as_str().unwrap().parse::<Topic>().unwrap(), "{name}");
        assert_eq!(env.data[..], h(&f["data"])[..], "{name}");
        assert_eq!(env.nonce, f["nonce"].as_u64().unwrap(), "{name}");
        assert_eq!(env.to_rlp(), rlp, "{name}: re-encoding");
        assert_eq!(hex::encode(env.hash()), v["envelope_hash"].as_str().unwrap(), "{name}: hash");
        let pc = &v["pow_check"];
        assert_eq!(
            env.rlp_without_nonce().len() as u64,
            pc["rlp_without_nonce_len"].as_u64().unwrap()
        );
        let reported: Vec<f64> = v
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("pow_reported"))
            .flat_map(|(_, x)| match x {
                Value::Object(m) => m.values().filter_map(Value::as_f64).collect::<Vec<_>>(),
                other => other.as_f64().into_iter().collect(),
            })
            .collect();
        assert!(!reported.is_empty(), "{name}: no reported PoW");
        for r in reported {
            assert_eq!(
                env.pow().to_bits(),
                r.to_bits(),
                "{name}: PoW {} vs reported {r}",
                env.pow()
            );
            pow_checks += 1;
        }
        n += 1;
    }
    (n, pow_checks)
}

#[test]
fn waku_envelopes_decode_hash_and_pow() {
    // One PoW reported by the receiving statusd per envelope.
    assert_eq!(check("waku/envelopes.json"), (10, 10));
}

#[test]
fn shh_envelopes_decode_hash_and_pow() {
    // Two PoW values per envelope: geth's and statusd's.
    assert_eq!(check("shh/envelopes.json"), (6, 12));
}

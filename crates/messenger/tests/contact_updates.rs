//! The periodic `ContactUpdate`: every 48 h after it last went to every added contact, the
//! messenger's tick sends our profile to them again (time passed in, the clock advanced by
//! hand); the time is stored, so a restart keeps the schedule.

mod common;

use common::{Party, TempDir, settle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wisp_crypto::SecretKey;
use wisp_messenger::{CONTACT_UPDATE_INTERVAL, Config, DATABASE_FILE, Output, open_sqlite};

const T0: u64 = 1_800_000_000_000;
const H: u64 = 3_600_000;

fn party(name: &str, seed: u64) -> Party {
    let mut p = Party::new(SecretKey::random(), name, None, seed);
    p.messenger.start(T0).unwrap();
    p
}

#[test]
fn our_contact_update_goes_again_every_48_hours() {
    assert_eq!(CONTACT_UPDATE_INTERVAL.as_millis(), u128::from(48 * H));
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    settle(&mut [&mut alice, &mut bob], T0);
    let a = alice.public_key();
    alice.messenger.add_contact(&bob.public_key(), None, "alice.eth", T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    assert_eq!(bob.messenger.contact(&a).unwrap().unwrap().ens_name, "alice.eth");
    alice.messenger.send_contact_updates("alice.eth", "aW1hZ2U=", T0 + 2_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 2_000);
    let first = bob.messenger.contact(&a).unwrap().unwrap();
    assert_eq!(first.profile_image, "aW1hZ2U=");
    let profile = alice.messenger.own_profile().unwrap().unwrap();
    assert_eq!(
        (profile.ens_name.as_str(), profile.profile_image.as_str()),
        ("alice.eth", "aW1hZ2U=")
    );
    assert_eq!(profile.contact_updates_sent_ms, T0 + 2_000);

    let due = T0 + 2_000 + 48 * H;
    let wakeup = alice.messenger.next_wakeup().unwrap().expect("something scheduled");
    assert!(wakeup <= due, "the tick is asked for by {due}, got {wakeup}");

    // Just before: nothing new reaches Bob.
    let before = bob.messenger.counters().devices;
    alice.messenger.tick(due - 1).unwrap();
    settle(&mut [&mut alice, &mut bob], due - 1);
    assert_eq!(bob.messenger.counters().devices, before, "not due yet");
    assert_eq!(alice.messenger.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0 + 2_000);

    // At 48 h: Bob gets our profile again, with a newer clock.
    alice.messenger.tick(due).unwrap();
    settle(&mut [&mut alice, &mut bob], due);
    assert_eq!(bob.messenger.counters().devices, before + 1, "one ContactUpdate applied");
    let again = bob.messenger.contact(&a).unwrap().unwrap();
    assert!(again.last_updated > first.last_updated);
    assert_eq!((again.ens_name.as_str(), again.profile_image.as_str()), ("alice.eth", "aW1hZ2U="));
    assert_eq!(alice.messenger.own_profile().unwrap().unwrap().contact_updates_sent_ms, due);
    assert!(alice.messenger.next_wakeup().unwrap().unwrap() <= due + 48 * H);

    // A tick soon after sends nothing; a contact removed is left out of the next round.
    alice.messenger.tick(due + H).unwrap();
    settle(&mut [&mut alice, &mut bob], due + H);
    assert_eq!(bob.messenger.counters().devices, before + 1);
    alice.messenger.remove_contact(&bob.public_key(), due + 2 * H).unwrap();
    alice.messenger.tick(due + 48 * H).unwrap();
    settle(&mut [&mut alice, &mut bob], due + 48 * H);
    assert_eq!(bob.messenger.counters().devices, before + 1, "no longer a contact");
    assert_eq!(
        alice.messenger.own_profile().unwrap().unwrap().contact_updates_sent_ms,
        due + 48 * H,
        "the round ran, for nobody"
    );
}

#[test]
fn the_schedule_survives_a_restart() {
    let dir = TempDir::new("contact-updates");
    let path = dir.path().join(DATABASE_FILE);
    let key = SecretKey::random();
    let bob = SecretKey::random().public_key();
    let open = |now: u64| {
        let mut m =
            open_sqlite(&path, key.clone(), "laptop", Config::default(), StdRng::seed_from_u64(1))
                .unwrap();
        m.start(now).unwrap();
        m.drain_outputs();
        m
    };
    let posts =
        |outputs: Vec<Output>| outputs.into_iter().filter(|o| matches!(o, Output::Post(_))).count();
    {
        let mut m = open(T0);
        m.add_contact(&bob, None, "", T0 + 1).unwrap();
        assert_eq!(m.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0, "first start");
        m.tick(T0 + 24 * H).unwrap();
        assert_eq!(m.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0);
    }
    // Restarted 30 h in: still due at 48 h after the first start, not 48 h after the restart.
    let mut m = open(T0 + 30 * H);
    assert_eq!(m.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0);
    let wakeup = m.next_wakeup().unwrap().unwrap();
    assert!(wakeup <= T0 + 48 * H, "{wakeup}");
    // Run every wakeup up to 47 h (MVDS retransmits the first ContactUpdate, which nobody
    // acknowledges, until it gives up).
    let mut now = T0 + 30 * H;
    while let Some(next) = m.next_wakeup().unwrap().filter(|n| *n < T0 + 47 * H) {
        now = next.max(now + 1);
        m.tick(now).unwrap();
        m.drain_outputs();
    }
    m.tick(T0 + 47 * H).unwrap();
    assert_eq!(posts(m.drain_outputs()), 0, "nothing for Bob before 48 h");
    assert_eq!(m.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0);
    m.tick(T0 + 48 * H).unwrap();
    assert!(posts(m.drain_outputs()) >= 1, "the ContactUpdate went out to Bob");
    assert_eq!(m.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0 + 48 * H);
    drop(m);
    let m = open(T0 + 49 * H);
    assert_eq!(m.own_profile().unwrap().unwrap().contact_updates_sent_ms, T0 + 48 * H);
}

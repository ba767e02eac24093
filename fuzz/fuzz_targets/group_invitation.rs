//! Fuzzes `wisp-messenger`'s `GroupChatInvitation` decoder (GROUP_CHAT_INVITATION), directly
//! and through the application payload dispatch, and the invitation id derivation on what
//! it decoded.
//!
//! Checks: no panic; a decoded invitation re-encodes to bytes that decode to it again; both
//! paths agree; the id is `0x` + 64 hex digits whatever the chat id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_messenger::proto::{self, AppPayload, Message as _, application_metadata_message::Type};

fuzz_target!(|data: &[u8]| {
    if let Ok(invitation) = proto::decode_group_chat_invitation(data) {
        let again = proto::decode_group_chat_invitation(&invitation.encode_to_vec())
            .expect("re-encoded invitation decodes");
        assert_eq!(again, invitation);
        let id = wisp_messenger::group_invitation_id("0x04", &invitation.chat_id);
        assert_eq!(id.len(), 66);
    }
    if let Ok(AppPayload::GroupInvitation(invitation)) =
        proto::decode_app_payload(Type::GroupChatInvitation as i32, data)
    {
        assert_eq!(proto::decode_group_chat_invitation(data).ok(), Some(invitation));
    }
});
